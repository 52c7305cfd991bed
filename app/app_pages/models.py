"""Models: the labels analysts gave, the online update (a background job), and every
model version side by side, with activation and rollback."""

import pandas as pd
import streamlit as st

from components import cached_analysis, cached_model, current, job_runner, show_error
from deeplog_core.jobs import log_tail
from deeplog_core.labels import LabelStore

ws, info, version = current()
runner = job_runner()
labels = LabelStore(ws.store)
st.title("Labels and model versions")

st.subheader(f"Labels on {info.name}")
effective = labels.effective(info.name)
if effective:
    st.dataframe(pd.DataFrame([{
        "id": l.id, "label": l.verdict.replace("_", " "), "session": l.session_id,
        "event": "session" if l.position is None else l.position, "key": l.key,
        "flagged by": l.model_version, "used by": ", ".join(labels.used_by(l.id)), "note": l.note,
    } for l in effective]), hide_index=True, width="stretch")
    st.caption(f"{len(effective)} in effect ({len(labels.all(info.name))} written; a newer label on the "
               "same event supersedes an older one, and none is ever deleted).")
else:
    st.info("No labels yet: mark a flagged event as a false positive (or confirm it) on the Inspect page.")

fresh = [l for l in effective if version.version not in labels.used_by(l.id)]
if st.button(f"Update {version.version} from these labels", type="primary", disabled=not effective,
             key="start_update"):
    try:
        st.session_state["update_job"] = runner.start_update(version.path, f"dataset:{info.name}",
                                                             dataset=info.name)
    except Exception as exc:
        show_error(exc)
if effective and not fresh:
    st.caption(f"Every label is already in {version.version} or its updates.")


@st.fragment(run_every=1.0)
def watch(job_id: int) -> None:
    job = runner.get(job_id)
    if job is None:
        return
    progress = runner.progress(job_id)
    st.markdown(f"**Update job {job_id}: {job['status']}**")
    if progress:
        last = progress[-1]
        st.progress(min(1.0, last["epoch"] / last["epochs"]),
                    text=f"epoch {last['epoch']}: {last['fp_flagged']} of {last['fp_windows']} "
                         "labelled windows still flagged")
    if job["status"] == "failed":
        st.error(job["error"] or "the update failed")
    elif job["status"] == "succeeded":
        st.success(f"New version {job['model_version']} is active: Timeline and Inspect now show its verdicts.")
        if st.session_state.get("model_version") != job["model_version"] and \
                st.session_state.get("update_adopted") != job_id:
            st.session_state["update_adopted"] = job_id
            st.session_state["model_version_request"] = job["model_version"]
            st.rerun(scope="app")
    with st.expander("Log"):
        st.code(log_tail(job["log_path"], 20) or "(empty)", language="text")


if "update_job" in st.session_state:
    watch(st.session_state["update_job"])


def _label_effect(upd: dict) -> str:
    """What an update did to its labelled events: key windows still flagged before → after,
    and the parameter values it accepted (a value anomaly is not a key window)."""
    if not upd:
        return ""
    text = f"{upd['fp_flagged_before']} → {upd['fp_flagged_after']}"
    accepted = upd.get("value_events_accepted", 0)
    return text + (f" · {accepted} value{'s' if accepted != 1 else ''} accepted" if accepted else "")


st.subheader("Versions")
versions = ws.registry.list()
rows = []
for v in versions:
    m = v.metrics
    upd = m.get("update", {})
    row = {"version": v.version, "active": "●" if v.active else "", "parent": v.parent or "",
           "kind": v.kind, "trained on": v.dataset, "val loss": m.get("val_loss"),
           "val flag rate": m.get("val_session_flag_rate"), "labels": upd.get("labels"),
           "labelled windows flagged before → after": _label_effect(upd)}
    try:
        cfg = cached_model(v.version, v.path)[0].config
        g = cfg.num_candidates
        row["LSTMs"] = cfg.members
        a = cached_analysis(info.name, info.created, v.version, v.path, g)
        row[f"flagged on {info.name}"] = int(a.sessions["anomalous"].sum())
        row["anomalous events"] = int(a.events["anomalous"].sum())
    except Exception as exc:  # a version whose files are gone still gets its row
        row[f"flagged on {info.name}"] = f"unavailable: {exc}"
    rows.append(row)
# Short headers with the long explanation in a tooltip: the table fits the page.
cc = st.column_config
table = pd.DataFrame(rows)
table = table.loc[:, (table.notna() & (table != "")).any()]   # no update yet: no parent or label columns
st.dataframe(table, hide_index=True, width="stretch", column_config={
    "active": cc.TextColumn("", width=30),
    "val loss": cc.NumberColumn(format="%.3f", help="cross-entropy per window on the validation sessions"),
    "val flag rate": cc.NumberColumn("val flagged", format="percent",
                                     help="share of the (normal) validation sessions this version flags"),
    "labels": cc.NumberColumn(help="labels this update learnt from"),
    "labelled windows flagged before → after": cc.TextColumn(
        "labelled: before → after", help="labelled false-positive key windows still flagged before and after the "
                                         "update, and the labelled parameter values it accepted as normal"),
    f"flagged on {info.name}": cc.TextColumn("flagged", help=f"sessions of {info.name} this version flags"),
    "trained on": cc.TextColumn("data", help="the dataset or source the version was trained on"),
    "anomalous events": cc.NumberColumn("flagged events", help=f"events of {info.name} this version flags"),
})

c1, c2, c3 = st.columns([2, 1, 1])
pick = c1.selectbox("Version", [v.version for v in versions], key="models_pick",
                    index=[v.version for v in versions].index(version.version))
if c2.button("Activate", key="activate"):
    try:
        ws.registry.activate(pick)
        st.session_state["model_version_request"] = pick
        st.rerun()
    except Exception as exc:
        show_error(exc)
if c3.button("Roll back", key="rollback", help="make the parent of the active version active again"):
    try:
        name = ws.registry.get(pick).name
        back = ws.registry.rollback(name)
        st.session_state["model_version_request"] = back.version
        st.rerun()
    except Exception as exc:
        show_error(exc)
