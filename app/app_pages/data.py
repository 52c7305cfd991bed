"""Data: pick raw logs (upload, a path under the data root, or S3), check how they parse,
choose how sessions group, and save them as a dataset of the workspace."""

import pandas as pd
import streamlit as st

from components import current, job_runner, show_error
from deeplog_core.datasets import DatasetSpec
from deeplog_core.errors import ConfigError, DeepLogError
from deeplog_core.grouping import HDFS_BLOCK
from deeplog_core.presets import PRESETS
from deeplog_core.preview import (DEFAULT_MAX_UPLOAD_MB, Preview, data_root, datasets_frame, human_size,
                                  labels_from_bytes, labels_from_path, list_s3, local_files,
                                  local_source, max_upload_mb, preview, s3_label, s3_options,
                                  s3_source, session_by, suggest_name, upload_source,
                                  ingest_request, inline_parse_bytes)

AUTO = "auto (detect)"
CUSTOM = "custom log format"
SOURCES = ["Upload", "Local path", "S3"]
WHOLE, PICKED = "Whole prefix", "Selected objects"
GROUPINGS = {"Session id in the line (regex)": "id", "Header field": "field", "Time windows": "window"}
LABELS = ["None", "Upload a CSV", "File under the data root"]

ws, _, _ = current()
root = data_root(ws.path)
st.title("Data")
st.caption("Bring raw logs into the workspace: check how their first lines parse, choose how "
           "lines group into sessions, and save them as a dataset the other pages can use.")
try:
    cap = max_upload_mb()
except DeepLogError as exc:
    show_error(exc)
    cap = DEFAULT_MAX_UPLOAD_MB


@st.cache_data(max_entries=32, show_spinner="Parsing the first lines…")
def cached_preview(identity: tuple, preset: str, log_format: str, _source) -> Preview:
    """The preview of a source, keyed by what identifies it (not by its bytes)."""
    return preview(_source, preset or None, log_format or None)


# -- 1. the source ---------------------------------------------------------------------------
st.subheader("1. Source")
kind = st.radio("Where the logs are", SOURCES, horizontal=True, key="data_source")
source, identity, label = None, None, ""
source_bytes = 0      # how much there is to parse: large sources are saved by a job
files, found, keys = [], [], None

if kind == "Upload":
    files = st.file_uploader("Log files (plain or gzip; several are read in order)",
                             accept_multiple_files=True, max_upload_size=cap, key="data_upload")
    st.caption(f"Uploads are limited to {cap} MB in all. Larger logs: put them under the data "
               "root or in S3.")
    if files:
        try:
            source = upload_source([(f.name, f.getvalue()) for f in files])
            identity = ("upload", tuple((f.file_id, f.name, f.size) for f in files))
            source_bytes = sum(f.size for f in files)
            label = "upload:" + ", ".join(f.name for f in files)
        except DeepLogError as exc:
            show_error(exc)

elif kind == "Local path":
    st.caption(f"Data root: `{root}` (set `$DEEPLOG_DATA_ROOT` to change it). Paths are relative "
               "to it and cannot leave it.")
    if not root.is_dir():
        st.warning(f"The data root {root} does not exist: create it, or point "
                   "`$DEEPLOG_DATA_ROOT` at the folder holding your logs.")
    rel = st.text_input("File, folder or glob pattern under the data root", key="data_local_path",
                        placeholder="e.g. HDFS/HDFS_2k.log, hdfs/, logs/**/*.log.gz")
    if rel.strip():
        try:
            found = local_files(root, rel)
            shown = found[:200]
            st.dataframe(pd.DataFrame({
                "file": [str(p.relative_to(root)) for p in shown],
                "size": [human_size(p.stat().st_size) for p in shown]}),
                hide_index=True, width="stretch")
            if len(found) > len(shown):
                st.caption(f"… and {len(found) - len(shown):,} more files")
            source = local_source(root, rel)
            identity = ("local", tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in found))
            source_bytes = sum(p.stat().st_size for p in found)
            label = source.name
        except (DeepLogError, OSError) as exc:
            show_error(exc)

else:
    c1, c2, c3 = st.columns(3)
    endpoint = c1.text_input("Endpoint URL (optional)", key="data_s3_endpoint",
                             placeholder="AWS S3; or e.g. http://minio:9000")
    region = c2.text_input("Region (optional)", key="data_s3_region", placeholder="from the AWS config")
    profile = c3.text_input("AWS profile (optional)", key="data_s3_profile",
                            placeholder="the default chain")
    c4, c5 = st.columns(2)
    bucket = c4.text_input("Bucket", key="data_s3_bucket")
    prefix = c5.text_input("Prefix", key="data_s3_prefix", placeholder="e.g. logs/2024/")
    st.caption("Credentials come from the standard AWS chain only: environment variables, the "
               "shared credentials file or a profile, an instance or task role. This page never "
               "asks for them, shows them or stores them.")
    where = (endpoint.strip(), region.strip(), profile.strip(), bucket.strip(), prefix.strip())
    if st.button("List objects", key="data_s3_list"):
        st.session_state.pop("data_s3_listing", None)
        try:
            with st.spinner("Listing the objects…"):
                objects = list_s3(bucket, prefix, s3_options(endpoint, region, profile))
            st.session_state["data_s3_listing"] = {"where": where,
                                                   "objects": [(o.key, o.size) for o in objects]}
        except Exception as exc:  # DeepLogError, or anything boto3 did not wrap: a message
            show_error(exc)
    listing = st.session_state.get("data_s3_listing")
    if listing and listing["where"] != where:
        st.info("The bucket or prefix changed: list the objects again.")
    elif listing and not listing["objects"]:
        st.warning(f"No objects under s3://{bucket.strip()}/{prefix.strip()}: check the prefix.")
    elif listing:
        objects = listing["objects"]
        total = sum(size for _, size in objects)
        st.markdown(f"**{len(objects):,} objects**, {human_size(total)} in all")
        st.dataframe(pd.DataFrame({"key": [k for k, _ in objects],
                                   "size (bytes)": [s for _, s in objects],
                                   "size": [human_size(s) for _, s in objects]}),
                     hide_index=True, width="stretch")
        take = st.radio("Take", [WHOLE, PICKED], horizontal=True, key="data_s3_take")
        keys = None
        if take == PICKED:
            keys = st.multiselect("Objects", [k for k, _ in objects], key="data_s3_keys")
        try:
            if keys == []:
                st.info("Pick at least one object.")
            else:
                source = s3_source(bucket, prefix, s3_options(endpoint, region, profile), keys)
                identity = ("s3", where, tuple(objects), tuple(keys) if keys is not None else None)
                source_bytes = sum(size for k, size in objects if keys is None or k in keys)
                label = s3_label(source)
        except DeepLogError as exc:
            show_error(exc)

if source is None:
    st.info("Pick some logs to see how they parse.")

# -- 2. the format and its preview ----------------------------------------------------------
result = None
if source is not None:
    st.subheader("2. Log format")
    choice = st.selectbox("Preset", [AUTO, *PRESETS, CUSTOM], key="data_preset",
                          help="The header format of the 16 loghub systems, or your own.")
    log_format = ""
    if choice == CUSTOM:
        log_format = st.text_input(
            "Custom log format", key="data_log_format",
            placeholder="<Date> <Time> <Level> <Component>: <Content>",
            help="Header fields between angle brackets, literal text between them; a <Content> "
                 "field is required. Spaces match any run of spaces.")
    preset = "" if choice in (AUTO, CUSTOM) else choice
    if choice == CUSTOM and not log_format.strip():
        st.info("Write the log format, e.g. `<Date> <Time> <Level> <Component>: <Content>`.")
    else:
        try:
            result = cached_preview(identity, preset, log_format.strip(), _source=source)
        except Exception as exc:  # DeepLogError, or a reader failure: a message, not a trace
            show_error(exc)

if result is not None:
    if result.detected:
        st.success(f"Auto-detection chose the **{result.preset}** preset: it fits "
                   f"{result.sample_matched:.0%} of the first {result.sample:,} lines.")
    else:
        st.caption(f"The {'preset ' + result.preset if result.preset else 'custom format'} fits "
                   f"{result.sample_matched:.0%} of the first {result.sample:,} lines.")
    st.caption(f"Format: `{result.log_format}`")
    if result.unmatched:
        st.warning(f"{result.unmatched} of the {result.lines} preview lines do not match the log "
                   "format; they are kept with their whole text as content. Pick another preset "
                   "or adjust the format if that is wrong.")
    if result.replaced:
        st.warning(f"{result.replaced} of the first lines are not valid UTF-8; undecodable bytes "
                   "are replaced.")
    st.markdown(f"First {result.lines} lines parsed, {result.unmatched} of them outside the log "
                f"format ({result.templates} templates mined from the first {result.sample:,} "
                "lines; the saved dataset mines them from every line):")
    st.dataframe(result.frame(), hide_index=True, width="stretch")

# -- 3. sessions and labels ------------------------------------------------------------------
spec_text, labels = None, None
if result is not None:
    st.subheader("3. Sessions")
    how = GROUPINGS[st.radio("Group lines into sessions by", list(GROUPINGS), horizontal=True,
                             key="data_group")]
    try:
        if how == "id":
            pattern = st.text_input("Session id regex", HDFS_BLOCK, key="data_id_regex",
                                    help="Every id this regex finds in a line puts the line in "
                                         "that session (HDFS: block ids).")
            spec_text = session_by("id", pattern=pattern.strip())
        elif how == "field":
            if not result.fields:
                st.warning("This log format has no header fields; group by an id or by time.")
            else:
                name = st.selectbox("Header field", result.fields, key="data_field")
                spec_text = session_by("field", field_name=name)
        else:
            c1, c2 = st.columns(2)
            size = c1.number_input("Window size (seconds)", min_value=0.001, value=60.0,
                                   key="data_window_size")
            step = c2.number_input("Step (seconds; 0: windows do not overlap)", min_value=0.0,
                                   value=0.0, key="data_window_step")
            spec_text = session_by("window", size=size, step=step)
        try:
            st.caption(f"The first {result.sample:,} lines form {result.sessions(spec_text):,} "
                       f"sessions with this grouping (`{spec_text}`).")
        except DeepLogError as exc:
            st.warning(f"In the first {result.sample:,} lines: {exc}")
    except DeepLogError as exc:
        spec_text = None
        show_error(exc)

    label_kind = st.radio("Labels (optional)", LABELS, horizontal=True, key="data_labels",
                          help="A CSV of session id and label (loghub anomaly_label.csv: "
                               "BlockId,Label with Normal/Anomaly).")
    try:
        if label_kind == "Upload a CSV":
            upload = st.file_uploader("Label CSV", key="data_label_upload", max_upload_size=cap)
            if upload is not None:
                labels = labels_from_bytes(upload.getvalue(), upload.name)
        elif label_kind == "File under the data root":
            rel_labels = st.text_input("Label CSV under the data root", key="data_label_path",
                                       placeholder="e.g. HDFS/anomaly_label.csv")
            if rel_labels.strip():
                labels = labels_from_path(root, rel_labels)
        if labels is not None:
            st.caption(f"{len(labels):,} labels, {sum(v == 1 for v in labels.values()):,} anomalous.")
        elif label_kind == "None":
            st.caption("Without labels, sessions are unlabelled (BGL and Thunderbird label "
                       "themselves from their first field).")
    except DeepLogError as exc:
        labels = None
        show_error(exc)

# -- 4. save ------------------------------------------------------------------------------------
names = [d.name for d in ws.datasets.list()]
if result is not None and spec_text is not None:
    st.subheader("4. Save")
    if st.session_state.get("data_name_for") != identity:
        st.session_state["data_name_for"] = identity
        st.session_state["data_name"] = suggest_name(label or source.name, names)
    c1, c2 = st.columns([3, 1])
    name = c1.text_input("Dataset name", key="data_name")
    replace = c2.checkbox("Replace if it exists", key="data_replace")
    if st.button("Save dataset", type="primary", key="data_save"):
        spec = DatasetSpec(source=label or source.name, preset=result.preset,
                           log_format=log_format.strip() if not result.preset else "",
                           session_by=spec_text)
        try:
            if not replace and ws.datasets.exists(name.strip()):
                raise ConfigError(f"a dataset called {name.strip()!r} exists already; pick another name")
            if source_bytes > inline_parse_bytes():   # large: a background job, the page stays live
                inputs, flags = ingest_request(
                    ws.path, spec, labels=labels,
                    uploads=[(f.name, f.getvalue()) for f in files] if kind == "Upload" else (),
                    files=found if kind == "Local path" else (),
                    s3=(bucket, prefix, s3_options(endpoint, region, profile), keys) if kind == "S3" else None)
                st.session_state["data_ingest_job"] = (
                    job_runner().start_ingest(name.strip(), inputs, flags + (["--replace"] if replace else [])),
                    name.strip())
            else:
                with st.spinner(f"Parsing every line of {source.name} and mining its templates…"):
                    info = ws.datasets.create(name.strip(), source, spec, labels=labels, replace=replace)
                st.session_state["data_saved"] = {"name": info.name, "stats": info.stats}
                st.session_state.pop("data_name_for", None)       # suggest a fresh name next
                st.session_state["dataset_request"] = info.name   # the sidebar selects it
                st.rerun()
        except Exception as exc:  # DeepLogError, or a reader failure: a message, not a trace
            show_error(exc)


@st.fragment(run_every=1.0)
def watch_ingest(job_id: int, name: str) -> None:
    runner = job_runner()
    job = runner.get(job_id)
    if job is None:
        return
    progress = runner.progress(job_id)
    last = progress[-1] if progress else None
    st.markdown(f"**Saving {name} in the background (job {job_id}): {job['status']}**"
                + (f" — {last['phase']}, {last['lines']:,} lines" if last else ""))
    if job["status"] == "failed":
        st.error(job["error"] or "the job failed")
    elif job["status"] == "succeeded" and st.session_state.get("data_ingest_done") != job_id:
        st.session_state["data_ingest_done"] = job_id
        st.session_state["data_saved"] = {"name": name, "stats": ws.datasets.get(name).stats}
        st.session_state.pop("data_name_for", None)
        st.session_state["dataset_request"] = name
        st.rerun(scope="app")


if "data_ingest_job" in st.session_state:
    watch_ingest(*st.session_state["data_ingest_job"])

saved = st.session_state.pop("data_saved", None)
if saved:
    s = saved["stats"]
    labelled = (f", {s['labelled_anomalous']:,} labelled anomalous"
                if s.get("labelled_anomalous") or s.get("labelled_normal") else "")
    st.success(f"Saved dataset **{saved['name']}**: {s['lines']:,} lines, {s['sessions']:,} "
               f"sessions, {s['templates']:,} templates, {s['outside_log_format']:,} lines "
               f"outside the log format{labelled}. It is now selected in the sidebar.")

# -- the workspace's datasets -----------------------------------------------------------------
st.subheader("Datasets of this workspace")
st.dataframe(datasets_frame(ws.datasets.list()), hide_index=True, width="stretch")
