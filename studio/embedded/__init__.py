"""The embedded default model: a small latent diffusion model that Studio trains itself on
a procedurally drawn landscape world (see the landscape-world spec), so that a fresh install
generates prompt-following images without any download."""
