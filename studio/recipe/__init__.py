# pyright: standard
"""How an image was made, and how that travels inside image files.

`schema`: the recipe itself, in the request's field names: `Recipe` (what Studio made,
runnable as it is) and `FoundRecipe` (what a file says, from any tool, checked and possibly
partial). One codec per format turns text into a `FoundRecipe` (and Studio's into a
`Recipe`): `studio_json`, `a1111` (AUTOMATIC1111 and Forge text, Fooocus JSON), `comfyui`,
`invokeai`, `exif` (the UserComment that carries the text in JPEG and WebP); `dialects`
tries them in order of trust. `walker` reads a file's size and texts by walking its chunk
headers, safely, and `read_recipe(path)` there is the one way to get an image's recipe.
`embed` writes pictures with their recipe. No Qt here, and nothing from the gallery, model
or window layers.
"""
