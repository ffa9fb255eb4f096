"""`metrics`' text (engine/metrics.py) on fixed samples, read back by prometheus_client's
own parser; and where `--listen` listens (engine/listen.py)."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from lxcprov.engine import listen, metrics
from lxcprov.engine.usage import Stats
from lxcprov.errors import InvalidArgumentError
from lxcprov.system.usage import Reading

# A reading taken at monotonic 500.0 of a container up for 100.25 s; with the wall clock
# 1_700_000_000.0 ahead of the monotonic one, its init started at 1_699_999_999.75 + 500.
OFFSET = 1_700_000_000.0
WEB = Stats(
    "web1",
    "RUNNING",
    Reading(at=500.0, cpu_ns=12_345_678_901, memory_used=64 << 20, memory_limit=512 << 20,
            swap_used=0, pids=7, rx_bytes=1500, tx_bytes=900, uptime=100.25),
    cpu_percent=12.5,
    disk_used=3 << 20,
    disk_limit=1 << 30,
)  # fmt: skip
# Running, with no limit and a host that counts no swap: those series are absent.
DB = Stats(
    "db",
    "RUNNING",
    Reading(at=500.0, cpu_ns=0, memory_used=1 << 20, pids=1, rx_bytes=0, tx_bytes=0,
            uptime=3.0),
    disk_used=4096,
)  # fmt: skip
OFF = Stats("off", "STOPPED", None, disk_used=8192)
HALF = Stats("half", "INCOMPLETE")


def _parse(text: str) -> dict[str, list[Sample]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _value(samples: list[Sample], name: str) -> float | None:
    found = [s.value for s in samples if s.labels.get("name") == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def _text(*stats: Stats) -> str:
    return metrics.exposition(list(stats), clock_offset=OFFSET, duration=0.0123)


def test_a_running_container_has_every_series_with_its_name() -> None:
    parsed = _parse(_text(WEB))
    p = metrics.PREFIX
    assert _value(parsed[p + "cpu_seconds"], "web1") == pytest.approx(12.345678901)
    assert _value(parsed[p + "memory_bytes"], "web1") == 64 << 20
    assert _value(parsed[p + "memory_limit_bytes"], "web1") == 512 << 20
    assert _value(parsed[p + "swap_bytes"], "web1") == 0  # a measured 0 is written
    assert _value(parsed[p + "pids"], "web1") == 7
    assert _value(parsed[p + "disk_bytes"], "web1") == 3 << 20
    assert _value(parsed[p + "disk_limit_bytes"], "web1") == 1 << 30
    assert _value(parsed[p + "network_receive_bytes"], "web1") == 1500
    assert _value(parsed[p + "network_transmit_bytes"], "web1") == 900
    assert _value(parsed[p + "running"], "web1") == 1
    assert _value(parsed[p + "start_time_seconds"], "web1") == round(OFFSET + 500.0 - 100.25)
    (state,) = parsed[metrics.STATE]
    assert state.labels == {"name": "web1", "state": "RUNNING"} and state.value == 1
    assert parsed["lxcprov_scrape_duration_seconds"][0].value == pytest.approx(0.0123)


def test_types_help_and_counter_names_follow_the_format() -> None:
    families = {f.name: f for f in text_string_to_metric_families(_text(WEB))}
    counters = {n for n, f in families.items() if f.type == "counter"}
    assert counters == {
        metrics.PREFIX + "cpu_seconds",
        metrics.PREFIX + "network_receive_bytes",
        metrics.PREFIX + "network_transmit_bytes",
    }
    assert all(f.type in ("counter", "gauge") and f.documentation for f in families.values())
    # A counter's samples end in _total (the parser strips it from the family's name).
    for name in counters:
        assert all(s.name == name + "_total" for s in families[name].samples)


def test_unknown_values_are_left_out_never_written_as_zero() -> None:
    parsed = _parse(_text(WEB, DB, OFF, HALF))
    p = metrics.PREFIX
    for family in ("cpu_seconds", "memory_bytes", "pids", "swap_bytes", "start_time_seconds",
                   "network_receive_bytes", "network_transmit_bytes"):  # fmt: skip
        assert _value(parsed[p + family], "off") is None, family
        assert _value(parsed[p + family], "half") is None, family
    assert _value(parsed[p + "swap_bytes"], "db") is None
    assert _value(parsed[p + "memory_limit_bytes"], "db") is None  # no limit: no series
    assert _value(parsed[p + "disk_limit_bytes"], "db") is None
    assert _value(parsed[p + "cpu_seconds"], "db") == 0  # a measured 0 is a 0
    # A stopped container still has its state and its disk.
    assert _value(parsed[p + "disk_bytes"], "off") == 8192
    assert _value(parsed[p + "running"], "off") == 0
    assert {(s.labels["name"], s.labels["state"]) for s in parsed[metrics.STATE]} == {
        ("web1", "RUNNING"), ("db", "RUNNING"), ("off", "STOPPED"), ("half", "INCOMPLETE"),
    }  # fmt: skip
    assert _value(parsed[p + "disk_bytes"], "half") is None


def test_nothing_is_a_valid_exposition_with_every_family_declared() -> None:
    text = metrics.exposition([], clock_offset=OFFSET)
    families = list(text_string_to_metric_families(text))
    assert len(families) == len(metrics.FAMILIES) + 1  # the state too
    assert all(not f.samples for f in families)
    assert text.endswith("\n") and "lxcprov_scrape" not in text


def test_label_values_are_escaped_per_the_format() -> None:
    odd = 'we"b\\1\nx'
    assert metrics.label_value(odd) == 'we\\"b\\\\1\\nx'
    text = _text(Stats(odd, "RUNNING", WEB.reading))
    parsed = _parse(text)
    assert _value(parsed[metrics.PREFIX + "pids"], odd) == 7  # the parser gets it back whole
    assert all(line.count("\n") == 0 for line in text.splitlines())


def test_the_text_is_grouped_by_family_one_series_each_and_has_no_timestamps() -> None:
    text = _text(WEB, DB, OFF, WEB)  # a name twice is written once
    declared: list[str] = []
    series: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared.append(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-z_]+)(\{[^}]*\})? (\S+)", line)
        assert m, f"not `name{{labels}} value` (a timestamp?): {line!r}"
        family = re.sub(r"_total$", "", m.group(1))
        assert declared and re.sub(r"_total$", "", declared[-1]) == family, line
        assert line.rsplit(" ", 1)[0] not in series, f"twice: {line}"
        series.add(line.rsplit(" ", 1)[0])
    assert len(declared) == len(set(declared))  # each family once, its samples together
    assert sum(1 for s in series if s.startswith(metrics.STATE)) == 3


def test_integers_stay_integers_and_floats_read_back() -> None:
    text = _text(WEB)
    assert f'{metrics.PREFIX}memory_bytes{{name="web1"}} {64 << 20}\n' in text
    assert f'{metrics.PREFIX}cpu_seconds_total{{name="web1"}} 12.345678901\n' in text
    # The start time is whole seconds: the same start read at another scrape (uptime a
    # few ms off) gives the same value.
    later = Stats("web1", "RUNNING", Reading(at=560.004, uptime=160.25 + 0.004 - 0.007))
    assert _value(_parse(_text(later))[metrics.PREFIX + "start_time_seconds"], "web1") == (
        round(OFFSET + 500.0 - 100.25)
    )


@pytest.mark.parametrize(
    ("text", "host", "port", "loopback"),
    [
        ("9100", "127.0.0.1", 9100, True),
        ("0", "127.0.0.1", 0, True),
        ("127.0.0.1:9100", "127.0.0.1", 9100, True),
        ("0.0.0.0:9100", "0.0.0.0", 9100, False),
        ("192.0.2.10:80", "192.0.2.10", 80, False),
        ("[::1]:9100", "::1", 9100, True),
        ("[::]:9100", "::", 9100, False),
        ("[fd00::0001]:65535", "fd00::1", 65535, False),
    ],
)
def test_listen_is_loopback_unless_an_address_is_written(
    text: str, host: str, port: int, loopback: bool
) -> None:
    where = listen.parse(text)
    assert (where.host, where.port, where.loopback) == (host, port, loopback)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "port must be"),
        ("http", "port must be"),
        ("65536", "port must be"),
        ("-1", "port must be"),
        ("٩١٠٠", "port must be"),  # Arabic-Indic digits: isdigit, not a port
        ("localhost:9100", "not an IP address"),
        (":9100", "not [ADDR:]PORT"),
        ("::1:9100", "in brackets"),
        ("[::1:9100", "no closing"),
        ("[127.0.0.1]:9100", "for IPv6"),
        ("[fe80::1%eth0]:9100", "scoped"),
        ("1.2.3.4:", "port must be"),
    ],
)
def test_listen_refuses_what_is_not_addr_port_in_one_line(text: str, says: str) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        listen.parse(text)
    assert says in refused.value.message and "\n" not in refused.value.message


def test_listen_urls_bracket_ipv6_and_take_the_bound_port() -> None:
    assert listen.parse("[::1]:0").url(41234) == "http://[::1]:41234/metrics"
    assert listen.parse("9100").url() == "http://127.0.0.1:9100/metrics"
