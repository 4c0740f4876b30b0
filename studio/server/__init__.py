"""`studio serve`: the engine as a Ray Serve application that speaks the AUTOMATIC1111 API.

Only `app` (the Ray Serve deployments) imports Ray, and only `studio.cli_serve` imports
`app`, lazily: `import studio`, the window and the other commands never load Ray. The rest
is plain Python: `config` (the server's settings and limits), `auth` (tokens and the basic
form), `a1111` (the API's payloads as engine requests), `jobs` (the fair queue, retries and
progress), `api` (the FastAPI routes), `worker` (one engine per replica).
"""
