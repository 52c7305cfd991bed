"""DeepLog dashboard entry point: `streamlit run app/main.py`."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

st.set_page_config(page_title="DeepLog", page_icon=":mag:", layout="wide")

from components import show_error, sidebar  # noqa: E402  (after the path is set)

pages = [
    st.Page("app_pages/timeline.py", title="Timeline", icon=":material/timeline:", default=True),
    st.Page("app_pages/inspect.py", title="Inspect", icon=":material/search:"),
    st.Page("app_pages/workflows.py", title="Workflows", icon=":material/account_tree:"),
    st.Page("app_pages/data.py", title="Data", icon=":material/upload_file:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/models.py", title="Models", icon=":material/inventory_2:"),
]
page = st.navigation(pages)
try:
    sidebar()
except Exception as exc:  # a broken workspace says why, instead of a trace
    show_error(exc)
    st.stop()
page.run()
