"""The chat page and its API (`rag serve`): a Gradio app over one loaded Engine."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry calls
