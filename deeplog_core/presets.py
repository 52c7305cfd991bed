"""Header formats of the 16 loghub systems, with the logpai benchmark's Drain settings.

log_format follows the logparser convention: <Field> names between literal
regex text (spaces match any run of spaces). `regexes` are the benchmark's masking
regexes, `sim_th` and `depth` its Drain settings; `timestamp` names the header fields
that make a time and how to read them (epoch seconds when the format is "epoch").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    log_format: str
    regexes: tuple[str, ...] = ()
    sim_th: float = 0.5
    depth: int = 4
    timestamp: tuple[str, str] = ("", "")   # (fields joined by spaces, strptime format)
    label_field: str = ""                    # a per-line label (BGL, Thunderbird: "-" is normal)


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("HDFS", r"<Date> <Time> <Pid> <Level> <Component>: <Content>",
           (r"blk_-?\d+", r"(\d+\.){3}\d+(:\d+)?"), 0.5, 4, ("Date Time", "%y%m%d %H%M%S")),
    Preset("Hadoop", r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
           (r"(\d+\.){3}\d+",), 0.5, 4, ("Date Time", "%Y-%m-%d %H:%M:%S,%f")),
    Preset("Spark", r"<Date> <Time> <Level> <Component>: <Content>",
           (r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", r"([\w-]+\.){2,}[\w-]+"), 0.5, 4,
           ("Date Time", "%y/%m/%d %H:%M:%S")),
    Preset("Zookeeper", r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
           (r"(/|)(\d+\.){3}\d+(:\d+)?",), 0.5, 4, ("Date Time", "%Y-%m-%d %H:%M:%S,%f")),
    Preset("BGL", r"<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
           (r"core\.\d+",), 0.5, 4, ("Timestamp", "epoch"), "Label"),
    Preset("HPC", r"<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
           (r"=\d+",), 0.5, 4, ("Time", "epoch")),
    Preset("Thunderbird", r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>",
           (r"(\d+\.){3}\d+",), 0.5, 4, ("Timestamp", "epoch"), "Label"),
    Preset("Windows", r"<Date> <Time>, <Level>                  <Component>    <Content>",
           (r"0x.*?\s",), 0.7, 5, ("Date Time", "%Y-%m-%d %H:%M:%S")),
    Preset("Linux", r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
           (r"(\d+\.){3}\d+", r"\d{2}:\d{2}:\d{2}"), 0.39, 6, ("Month Date Time", "%b %d %H:%M:%S")),
    Preset("Android", r"<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
           (r"(/[\w-]+)+", r"([\w-]+\.){2,}[\w-]+",
            r"\b(\-?\+?\d+)\b|\b0[Xx][a-fA-F\d]+\b|\b[a-fA-F\d]{4,}\b"), 0.2, 6,
           ("Date Time", "%m-%d %H:%M:%S.%f")),
    Preset("HealthApp", r"<Time>\|<Component>\|<Pid>\|<Content>", (), 0.2, 4,
           ("Time", "%Y%m%d-%H:%M:%S:%f")),
    Preset("Apache", r"\[<Time>\] \[<Level>\] <Content>", (r"(\d+\.){3}\d+",), 0.5, 4,
           ("Time", "%a %b %d %H:%M:%S %Y")),
    Preset("Proxifier", r"\[<Time>\] <Program> - <Content>",
           (r"<\d+\ssec", r"([\w-]+\.)+[\w-]+(:\d+)?", r"\d{2}:\d{2}(:\d{2})*", r"[KGTM]B"), 0.6, 3,
           ("Time", "%m.%d %H:%M:%S")),
    Preset("OpenSSH", r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
           (r"(\d+\.){3}\d+", r"([\w-]+\.){2,}[\w-]+"), 0.6, 5, ("Date Day Time", "%b %d %H:%M:%S")),
    Preset("OpenStack", r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
           (r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+"), 0.5, 5, ("Date Time", "%Y-%m-%d %H:%M:%S.%f")),
    Preset("Mac", r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>",
           (r"([\w-]+\.){2,}[\w-]+",), 0.7, 6, ("Month Date Time", "%b %d %H:%M:%S")),
]}
