"""DeepLog dashboard entry point: `streamlit run app/main.py`."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

st.set_page_config(page_title="DeepLog", page_icon=":mag:", layout="wide")
pages = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/insights:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
]
st.navigation(pages).run()
