"""The configuration resolver: precedence, every field's validation, the TOML file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.chain.amounts import format_amount
from node.chain.deploy import Deployment
from node.config import ENV_NAMES, ConfigError, load_config, render_config, resolve_config
from node.config_fields import parse_duration
from node.toml_write import dumps_tables

REGISTRY, STAKING, MARKET = ("0x" + c * 40 for c in "abc")
PEER = "12D3KooWDQsrj984TGqN4AW4TQDxAGdgqYGA7Yun1ekscpyAjLaL"
BASE = {
    "chain": {
        "rpc_url": "http://127.0.0.1:8545",
        "chain_id": 31337,
        "model_registry": REGISTRY,
        "prover_staking": STAKING,
        "job_market": MARKET,
    }
}


def resolve(
    file_values: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    flags: dict[str, Any] | None = None,
) -> Any:
    return resolve_config(BASE if file_values is None else file_values, env or {}, flags or {})


def test_defaults_fill_what_the_file_leaves_out() -> None:
    config = resolve()
    assert config.chain.chain_id == 31337
    assert config.chain.job_market == "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"  # checksummed
    assert config.chain.confirmations == 2
    assert config.roles.requester
    assert not config.roles.prover
    assert config.api.port == 0
    assert config.chain.to_deployment().address("JobMarket").lower() == MARKET


def test_flags_beat_environment_beat_file_beat_defaults() -> None:
    file_values = {**BASE, "prover": {"capacity": 3}}
    assert resolve(file_values).prover.capacity == 3
    assert resolve(file_values, {"PROVERNET_CAPACITY": "5"}).prover.capacity == 5
    flags = {"prover.capacity": 9}
    assert resolve(file_values, {"PROVERNET_CAPACITY": "5"}, flags).prover.capacity == 9
    # A flag left unset (None) does not hide the sources below it.
    assert resolve(file_values, {}, {"prover.capacity": None}).prover.capacity == 3
    env = {"PROVERNET_RPC_URL": "wss://rpc.example:8546/v1"}
    assert resolve(BASE, env).chain.rpc_url == "wss://rpc.example:8546/v1"


def test_environment_names_are_documented_and_distinct() -> None:
    import node.config

    assert len(set(ENV_NAMES.values())) == len(ENV_NAMES)
    for env_name in ENV_NAMES:
        assert env_name in (node.config.__doc__ or "")
    assert ENV_NAMES["PROVERNET_RPC_URL"] == "chain.rpc_url"


def test_environment_text_is_parsed_per_field() -> None:
    env = {
        "PROVERNET_PRICE_PER_1K": "2.5gwei",
        "PROVERNET_POLL_INTERVAL": "1m",
        "PROVERNET_BOOTSTRAP": f"/ip4/10.0.0.1/tcp/4001/p2p/{PEER}, /dns4/a.b/tcp/1/p2p/{PEER}",
        "PROVERNET_LOG_LEVEL": "DEBUG",
    }
    config = resolve(BASE, env)
    assert config.prover.price_per_1k_constraints == 2_500_000_000
    assert config.chain.poll_interval_s == 60.0
    assert len(config.p2p.bootstrap) == 2
    assert config.logging.level == "debug"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("chain.rpc_url", "ftp://x", "chain.rpc_url: 'ftp://x' is not an http(s) or ws(s) URL"),
        ("chain.rpc_url", 8545, "is not an http(s) or ws(s) URL"),
        ("chain.chain_id", 0, "chain.chain_id: 0 is not between 1 and"),
        ("chain.chain_id", "one", "chain.chain_id: 'one' is not an integer"),
        ("chain.chain_id", True, "is not an integer"),
        ("chain.job_market", "0x1234", "chain.job_market: '0x1234' is not an Ethereum address"),
        ("chain.confirmations", -1, "chain.confirmations: -1 is not between 0 and 1000"),
        ("chain.poll_interval", "soon", "chain.poll_interval: 'soon' is not a duration"),
        ("chain.poll_interval", 0, "chain.poll_interval: 0 is not a positive duration"),
        ("chain.max_log_range", 0, "chain.max_log_range: 0 is not between 1"),
        ("p2p.listen", "/ip4/300.1.1.1/tcp/1", "p2p.listen: '/ip4/300.1.1.1/tcp/1' has"),
        ("p2p.listen", 7, "p2p.listen: 7 is not a list of multiaddrs"),
        ("p2p.bootstrap", ["/ip4/1.2.3.4/tcp/1"], "does not end in /p2p/<peer id>"),
        ("roles.prover", "maybe", "roles.prover: 'maybe' is not true or false"),
        ("prover.price_per_1k_constraints", "1 dollar", "is not an amount"),
        ("prover.price_per_1k_constraints", -5, "is not an amount of wei"),
        ("prover.max_collateral", 2**96, "exceeds the largest amount"),
        ("prover.margin_bps", 100_001, "prover.margin_bps: 100001 is not between 0 and 100000"),
        ("prover.capacity", 0, "prover.capacity: 0 is not between 1"),
        ("prover.max_workers", "x", "prover.max_workers: 'x' is not an integer"),
        ("requester.default_collateral", "0.1 btc", "is not an amount"),
        ("requester.default_deadline", "10 years", "is not a duration"),
        ("requester.default_deadline", "1.5s", "is not a whole number of seconds"),
        ("requester.resubmit_fee_factor", 0.5, "is not between 1.0 and 10.0"),
        ("requester.resubmit_fee_factor", "nan", "is not between 1.0 and 10.0"),
        ("requester.resubmit_max_tries", 101, "is not between 0 and 100"),
        ("store.keep_inputs", 1.5, "store.keep_inputs: 1.5 is not true or false"),
        ("api.port", 65536, "api.port: 65536 is not between 0 and 65535"),
        ("keys.keystore", 3, "keys.keystore: 3 is not a path"),
        ("keys.password_env", "1BAD", "keys.password_env: '1BAD' is not an environment variable"),
        ("logging.level", "loud", "logging.level: 'loud' is not one of debug, info"),
    ],
)
def test_every_field_names_itself_and_the_bad_value(field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(BASE, {}, {field: value})
    assert message in str(caught.value)
    # The file reports the same field the same way.
    section, key = field.split(".")
    file_values = {**BASE, section: {**BASE.get(section, {}), key: value}}
    with pytest.raises(ConfigError, match=f"^{field}: "):
        resolve(file_values)


def test_missing_unknown_and_roleless_settings_are_refused() -> None:
    chain = dict(BASE["chain"])
    del chain["rpc_url"]
    with pytest.raises(ConfigError, match=r"chain.rpc_url: missing .*PROVERNET_RPC_URL"):
        resolve({"chain": chain})
    with pytest.raises(ConfigError, match=r"chain.rpc_urll: unknown setting"):
        resolve({"chain": {**BASE["chain"], "rpc_urll": "http://x"}})
    with pytest.raises(ConfigError, match=r"prover.speed: unknown setting"):
        resolve(BASE, {}, {"prover.speed": 3})
    with pytest.raises(ConfigError, match=r"prover.rescue: no longer a setting: .*delete"):
        resolve({**BASE, "prover": {"rescue": True}})
    with pytest.raises(ConfigError, match=r"chain: expected a \[chain\] table"):
        resolve({"chain": "http://x"})
    with pytest.raises(ConfigError, match="a node needs a role"):
        resolve({**BASE, "roles": {"requester": False, "prover": False}})


@given(
    st.integers(0, 10**7),
    st.sampled_from([("", 1), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]),
)
def test_durations_scale_by_their_unit(number: int, unit: tuple[str, int]) -> None:
    assert parse_duration(f"{number}{unit[0]}") == number * unit[1]
    assert parse_duration(f" {number} {unit[0]} ") == number * unit[1]


@given(st.integers(0, 2**96 - 1))
def test_amounts_read_back_what_config_writes(wei: int) -> None:
    text = format_amount(wei)
    flags = {"prover.max_collateral": text, "requester.default_collateral": wei}
    config = resolve(BASE, {}, flags)
    assert config.prover.max_collateral == wei
    assert config.requester.default_collateral == wei


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_written_toml_strings_read_back(text: str) -> None:
    document = dumps_tables({"t": {"key": text, "list": [text, 1, 2.5, True]}})
    assert tomllib.loads(document) == {"t": {"key": text, "list": [text, 1, 2.5, True]}}


def test_rendered_config_resolves_to_the_values_given() -> None:
    values = {
        "chain.rpc_url": "http://127.0.0.1:8545",
        "chain.chain_id": 5,
        "chain.model_registry": REGISTRY,
        "chain.prover_staking": STAKING,
        "chain.job_market": MARKET,
        "prover.price_per_1k_constraints": 123_456_789_000,
        "requester.default_deadline": 90,
        "p2p.bootstrap": [f"/ip4/10.0.0.1/tcp/4001/p2p/{PEER}"],
    }
    config = resolve(tomllib.loads(render_config(values)))
    assert config.chain.chain_id == 5
    assert config.prover.price_per_1k_constraints == 123_456_789_000
    assert config.requester.default_deadline_s == 90
    assert config.p2p.bootstrap == (f"/ip4/10.0.0.1/tcp/4001/p2p/{PEER}",)
    with pytest.raises(ConfigError, match=r"api.port"):
        render_config({**values, "api.port": -1})


def write_config(home: Path, text: str) -> None:
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(text)


def test_load_config_reports_toml_errors_with_their_line(tmp_path: Path) -> None:
    write_config(tmp_path, '[chain]\nrpc_url = "http://x"\nchain_id = = 3\n')
    with pytest.raises(ConfigError, match=r"config.toml is not valid TOML: .*line 3"):
        load_config(tmp_path, {}, {})
    with pytest.raises(ConfigError, match="run `provernet node init` first"):
        load_config(tmp_path / "absent", {}, {})


def test_load_config_resolves_paths_against_the_home(tmp_path: Path) -> None:
    write_config(tmp_path, render_config(_flat(BASE)) + '\n[store]\nkeep_inputs = "yes"\n')
    with pytest.raises(ConfigError, match=r"Cannot declare|not valid TOML"):
        load_config(tmp_path, {}, {})  # [store] twice is a TOML error
    write_config(tmp_path, render_config({**_flat(BASE), "keys.password_file": "secret"}))
    config = load_config(tmp_path, {}, {"api.port": 8080})
    assert config.keys.keystore == tmp_path / "keystore.json"
    assert config.keys.password_file == tmp_path / "secret"
    assert config.api.port == 8080


def test_a_deployment_file_fills_the_chain_section(tmp_path: Path) -> None:
    deployment = Deployment(
        77, 12, {"ModelRegistry": REGISTRY, "ProverStaking": STAKING, "JobMarket": MARKET}
    )
    deployment.save(tmp_path / "deployment.json")
    chain = {"rpc_url": "http://127.0.0.1:8545", "deployment": "deployment.json"}
    write_config(tmp_path, dumps_tables({"chain": chain}))
    config = load_config(tmp_path, {}, {})
    assert (config.chain.chain_id, config.chain.deployment_block) == (77, 12)
    assert config.chain.contracts["ProverStaking"].lower() == STAKING
    write_config(tmp_path, dumps_tables({"chain": {**chain, "chain_id": 78}}))
    with pytest.raises(ConfigError, match=r"chain.chain_id: 78 differs from the deployment"):
        load_config(tmp_path, {}, {})
    (tmp_path / "deployment.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"chain.deployment: malformed deployment"):
        load_config(tmp_path, {}, {})


def _flat(tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, table in tables.items() for k, v in table.items()}
