"""The Textual front end. Knows nothing of HTTP: it talks to comfy_reality.runtime only."""
