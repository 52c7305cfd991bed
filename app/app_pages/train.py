"""Train: start a training job (one process or torchrun), watch it live, cancel it."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import current, job_runner
from deeplog_core.demo import assets_dir
from deeplog_core.config import ModelConfig
from deeplog_core.jobs import Launcher, log_tail
from deeplog_core.progress import epoch_fraction, epoch_text
from deeplog_core.errors import DeepLogError

ws, info, _ = current()
runner = job_runner()
st.title("Train a model")
st.caption("Training fits the log-key model on the sessions not labelled anomalous (and, on raw "
           "logs, the parameter-value model); the result is registered as the next version of its "
           "model name and becomes that name's active version.")

DATASETS = {f"{d.name} (workspace, {d.stats.get('sessions', '?')} sessions)": f"dataset:{d.name}"
            for d in ws.datasets.list()}
DATASETS["hdfs_100k normal blocks (bundled session file)"] = str(assets_dir() / "hdfs_100k" / "train.csv")
names = list(DATASETS)
current_choice = next((n for n in names if DATASETS[n] == f"dataset:{info.name}"), names[0])

with st.form("train_form"):
    dataset = st.selectbox("Dataset", names, index=names.index(current_choice))
    register = st.text_input("Model name (versions are numbered)", value=info.name)
    c1, c2, c3, c4, c0 = st.columns(5)
    window = c1.number_input("History h", 1, 100, 10)
    candidates = c2.number_input("Top-g", 1, 100, 9)
    layers = c3.number_input("LSTM layers L", 1, 8, 2)
    hidden = c4.number_input("Hidden units α", 4, 1024, 64)
    members = c0.number_input("LSTMs averaged", 1, 32, ModelConfig.members,
                              help="Each is trained apart (its own seed and validation split) and "
                                   "the model averages their predictions: fewer false positives "
                                   "for that many times the training. 1 is the paper's single LSTM.")
    c5, c6, c7, c8 = st.columns(4)
    epochs = c5.number_input("Epochs", 1, 1000, 30)
    batch = c6.number_input("Batch size", 8, 65536, 512)
    device = c7.selectbox("Device", ["auto", "cpu", "cuda"])
    launcher_kind = c8.selectbox("Launcher", ["one process", "torchrun"])
    c9, c10, c11 = st.columns(3)
    nproc = c9.number_input("Processes per node", 1, 64, 2)
    nnodes = c10.number_input("Nodes", 1, 64, 1)
    endpoint = c11.text_input("Rendezvous HOST:PORT (several nodes)", "")
    submitted = st.form_submit_button("Start training", type="primary")

if submitted:
    try:
        launcher = (Launcher() if launcher_kind == "one process"
                    else Launcher("torchrun", int(nproc), int(nnodes), endpoint.strip()))
        started = runner.start(DATASETS[dataset], None, {
            "window_size": int(window), "num_candidates": int(candidates), "num_layers": int(layers),
            "hidden_size": int(hidden), "members": int(members), "epochs": int(epochs), "batch_size": int(batch),
            "device": device, "register": register.strip() or info.name}, launcher)
        st.session_state["watch_job"] = started
    except DeepLogError as exc:
        st.error(str(exc))


@st.fragment(run_every=1.0)
def watch(job_id: int) -> None:
    job = runner.get(job_id)
    if job is None:
        return
    progress = runner.progress(job_id)
    status = job["status"]
    st.subheader(f"Job {job_id}: {status}")
    if progress:
        last = progress[-1]
        a, b, c, d = st.columns(4)
        a.metric("Epoch", f"{last['epoch']} / {last['epochs']}")   # of which LSTM: the bar's text
        b.metric("Validation loss", f"{last['val_loss']:.4f}")
        c.metric("Samples/s", f"{last['samples_per_s']:,.0f}")
        d.metric("ETA", f"{last['eta_s']:.0f} s" if status == "running" else "–")
        st.progress(epoch_fraction(last), text=epoch_text(last))
        frame = pd.DataFrame(progress)
        fig = go.Figure()
        groups = frame.groupby("member") if "member" in frame and frame["member"].nunique() > 1 else [(None, frame)]
        for member, part in groups:
            suffix = f" (LSTM {member})" if member is not None else ""
            fig.add_scatter(x=part["epoch"], y=part["train_loss"], name="train loss" + suffix)
            fig.add_scatter(x=part["epoch"], y=part["val_loss"], name="validation loss" + suffix)
        fig.update_layout(height=300, xaxis_title="epoch", yaxis_title="loss", margin=dict(t=20))
        st.plotly_chart(fig, width="stretch")
    elif status == "running":
        st.info("Starting… the first progress report arrives after the first epoch.")
    if status == "running" and st.button("Cancel job", key=f"cancel_{job_id}"):
        runner.cancel(job_id)
    if status == "failed":
        st.error(job["error"] or "the job failed")
    if status == "succeeded":
        st.success(f"Model {job['model_version']} written to {job['model_dir']}; pick it in the sidebar.")
    with st.expander("Log"):
        st.code(log_tail(job["log_path"], 30) or "(empty)", language="text")


if "watch_job" in st.session_state:
    watch(st.session_state["watch_job"])

st.subheader("Job history")
jobs = runner.list()
if jobs:
    st.dataframe(pd.DataFrame([{
        "job": j["id"], "status": j["status"], "launcher": j["launcher"].get("kind"),
        "dataset": j["dataset"].rsplit("/", 1)[-1], "model": j["model_dir"],
        "val loss": (j["metrics"] or {}).get("val_loss"), "error": (j["error"] or "")[:80],
    } for j in jobs]), hide_index=True, width="stretch")
    pick = st.selectbox("Log of job", [j["id"] for j in jobs], key="log_job")
    if st.button("Show log", key="show_log"):
        st.code(log_tail(runner.store.get_job(pick)["log_path"], 30) or "(empty)", language="text")
else:
    st.caption("No jobs yet.")
