import json

import pytest

from conftest import ASSETS
from deeplog_core.errors import ConfigError, DataFormatError
from deeplog_core.parsing import LogFormat, LogParser, ParserConfig, choose_preset
from deeplog_core.presets import PRESETS

HDFS_LINES = (ASSETS / "HDFS_5k.log").read_text().splitlines()


def test_log_format_splits_headers_and_content():
    fmt = LogFormat(PRESETS["HDFS"].log_format)
    fields = fmt.match(HDFS_LINES[0])
    assert fields["Date"] == "081109" and fields["Level"] == "INFO"
    assert fields["Component"] == "dfs.DataNode$DataXceiver"
    assert fields["Content"].startswith("Receiving block blk_-1608999687919862906")
    assert fmt.match("not a log line") is None


def test_all_sixteen_presets_compile():
    assert len(PRESETS) == 16
    for preset in PRESETS.values():
        assert "Content" in LogFormat(preset.log_format).fields


def test_invalid_formats_are_refused():
    with pytest.raises(ConfigError, match="Content"):
        LogFormat("<Date> <Time>")
    with pytest.raises(ConfigError, match="unknown preset"):
        ParserConfig.from_preset("NoSuchSystem")


def test_preset_is_chosen_from_a_sample():
    preset, rate = choose_preset(HDFS_LINES[:100])
    assert preset.name == "HDFS" and rate == 1.0
    with pytest.raises(DataFormatError, match="empty"):
        choose_preset(["", "  "])


def test_templates_keys_parameters_and_timestamps():
    parser = LogParser(ParserConfig.from_preset("HDFS")).fit(HDFS_LINES)
    templates = parser.templates
    assert "Receiving block <*> src: /<*> dest: /<*>" in templates.values()
    assert any(t.startswith("PacketResponder <*> for block <*> terminating") for t in templates.values())
    events = list(parser.parse(HDFS_LINES[:3]))
    first = events[0]
    assert templates[first.key] == "Receiving block <*> src: /<*> dest: /<*>"
    assert first.params == ["blk_-1608999687919862906", "10.250.19.102:54106", "10.250.19.102:50010"]
    assert first.timestamp is not None and first.headers["Pid"] == "143"
    received = next(e for e in parser.parse(HDFS_LINES) if e.template.startswith("Received block <*> of size"))
    assert isinstance(received.params[1], float)                 # sizes come out as numbers


def test_lines_outside_the_format_are_kept_and_counted():
    lines = HDFS_LINES[:50] + ["garbage that fits no header", "   "]
    parser = LogParser(ParserConfig.from_preset("HDFS")).fit(lines)
    assert parser.lines_seen == 51 and parser.unmatched_format == 1
    events = list(parser.parse(lines))
    assert len(events) == 51 and not events[-1].matched_format
    assert events[-1].content == "garbage that fits no header" and events[-1].key is not None


def test_state_round_trip_and_unknown_lines():
    parser = LogParser(ParserConfig.from_preset("HDFS")).fit(HDFS_LINES)
    state = json.loads(json.dumps(parser.to_state()))
    again = LogParser.from_state(state)
    keys = [e.key for e in parser.parse(HDFS_LINES)]
    assert [e.key for e in again.parse(HDFS_LINES)] == keys
    novel = "081109 203518 143 INFO dfs.DataNode: Disk failure on volume /data/3 while writing"
    assert next(again.parse([novel])).key is None                   # unknown, not a near miss
    with pytest.raises(DataFormatError, match="invalid parser state"):
        LogParser.from_state({"config": {}, "templates": {}})
    with pytest.raises(DataFormatError, match="invalid parser state"):
        LogParser.from_state({"config": state["config"], "templates": {"E1": 5}})


def test_parse_before_fit_is_an_error():
    with pytest.raises(ConfigError, match="no templates"):
        list(LogParser(ParserConfig.from_preset("HDFS")).parse(HDFS_LINES[:1]))


def test_token_safety_of_mask_regexes():
    from deeplog_core.parsing import token_safe
    assert token_safe(r"blk_-?\d+") and token_safe(r"(\d+\.){3}\d+(:\d+)?") and token_safe(r"\b0[xX][0-9a-f]+\b")
    for unsafe in (r"a b", r".*", r"[^x]+", r"^\d+", r"\s+", r"0x.*?\s", r"(?<=a)b", r"(a)\1", "[\t-z]"):
        assert not token_safe(unsafe), unsafe


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["blk_-12", "blk_7", "10.0.0.1:50010", "1.2.3.4", "0x1F", "size", "x-0xab",
                                 "=42", "core.3", "a", "", "  ", "\t", "12:30:01", "/10.1.1.1"]),
                min_size=0, max_size=12))
def test_masking_by_token_gives_drain3s_tokens(parts):
    from deeplog_core.parsing import LogParser, ParserConfig
    content = " ".join(parts)
    for preset in ("HDFS", "Linux", "Android", "Zookeeper", "BGL", "HPC"):
        parser = LogParser(ParserConfig.from_preset(preset))
        assert parser._by_token
        assert parser.mask(content).split() == parser.miner.masker.mask(content).split(), preset


def test_a_wildcard_of_a_few_plain_words_becomes_constants():
    from deeplog_core.parsing import LogParser, ParserConfig
    lines = []
    for i in range(12):
        verb = ("spawned", "destroyed", "rebooted")[i % 3]
        lines.append(f"2024-01-01 10:00:{i:02d} INFO nova: Instance {verb} successfully in {i}.5 seconds")
        lines.append(f"2024-01-01 10:01:{i:02d} INFO sshd: failure rhost=10.0.0.{i} user={('root', 'guest')[i % 2]}")
        lines.append(f"2024-01-01 10:02:{i:02d} INFO ftpd: connection at {('Jun', 'Jul')[i % 2]} {i} 2005")
    parser = LogParser(ParserConfig("<Date> <Time> <Level> <Component>: <Content>")).fit(lines)
    keys = [e.key for e in parser.parse(lines)]
    templates = [parser.templates[k] for k in keys]
    assert templates[0] == "Instance spawned successfully in <*> seconds"
    assert templates[3] == "Instance destroyed successfully in <*> seconds"
    assert len({templates[i] for i in range(0, 36, 3)}) == 3            # one per verb
    assert templates[1].endswith("user=root") and templates[4].endswith("user=guest")
    assert len({templates[i] for i in range(2, 36, 3)}) == 1            # months stay values
    state = LogParser.from_state(parser.to_state())
    assert [state.match(e.content) for e in parser.parse(lines)] == keys
