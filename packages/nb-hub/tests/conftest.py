import os

# The emulator speaks Git LFS, not Xet: disable Xet before huggingface_hub is imported.
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("NB_PROGRESS", "0")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
