"""Empty: `avnb probe` moved to cli/media.py; this file goes once cli/main.py no longer imports it."""
