"""The node's configuration: one frozen dataclass tree and the one resolver that builds it.

Configuration flows one way (STYLE habit 8): ``config.toml`` in the home, the
environment and command-line flags are read by the caller and handed to
``resolve_config``, a pure function; every field is taken from the first source
that has it, in the order flags > environment > file > default, and validated.
An invalid value raises ``ConfigError`` naming the field and the value.

Fields are named ``section.key`` as in config.toml (``chain.rpc_url``); flags
use the same dotted names. Environment variables (``ENV_NAMES``):

    PROVERNET_RPC_URL          chain.rpc_url
    PROVERNET_CHAIN_ID         chain.chain_id
    PROVERNET_CONFIRMATIONS    chain.confirmations
    PROVERNET_POLL_INTERVAL    chain.poll_interval      (a duration: 2s, 0.5s)
    PROVERNET_MAX_LOG_RANGE    chain.max_log_range
    PROVERNET_LISTEN           p2p.listen               (comma-separated multiaddrs)
    PROVERNET_BOOTSTRAP        p2p.bootstrap            (comma-separated multiaddrs)
    PROVERNET_PRICE_PER_1K     prover.price_per_1k_constraints (an amount: 10gwei)
    PROVERNET_MARGIN_BPS       prover.margin_bps
    PROVERNET_CAPACITY         prover.capacity
    PROVERNET_WORKERS          prover.max_workers
    PROVERNET_API_PORT         api.port
    PROVERNET_PASSWORD_FILE    keys.password_file
    PROVERNET_LOG_LEVEL        logging.level

Durations are a number with an optional unit: ``90``, ``90s``, ``10m``, ``2h``,
``1d``. Amounts are read by ``node.chain.amounts.parse_amount`` (``0.01eth``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.chain.amounts import format_amount
from node.chain.deploy import Deployment
from node.chain.errors import DeploymentFileError
from node.config_fields import (
    ConfigError,
    Field,
    address,
    amount,
    boolean,
    choice,
    duration,
    format_duration,
    int_range,
    multiaddrs,
    path,
    ratio,
    url,
)
from node.keys import PASSWORD_ENV
from node.toml_write import dumps_tables

__all__ = ["ENV_NAMES", "ConfigError", "NodeConfig", "load_config", "resolve_config"]

# JobMarket stores amounts as uint96 (protocol.messages.types.MAX_ONCHAIN_AMOUNT).
MAX_AMOUNT = 2**96 - 1
BPS = 10_000  # basis points in one


@dataclass(frozen=True)
class ChainConfig:
    rpc_url: str
    chain_id: int
    deployment_block: int
    model_registry: str
    prover_staking: str
    job_market: str
    confirmations: int
    poll_interval_s: float
    max_log_range: int

    @property
    def contracts(self) -> dict[str, str]:
        """Addresses by contract name, as ``node.chain.deploy.Deployment`` holds them."""
        return {
            "ModelRegistry": self.model_registry,
            "ProverStaking": self.prover_staking,
            "JobMarket": self.job_market,
        }

    def to_deployment(self) -> Deployment:
        """The deployment these settings describe, for ``node.chain.client.Web3Chain``."""
        return Deployment(self.chain_id, self.deployment_block, self.contracts)


@dataclass(frozen=True)
class P2PSection:
    listen: tuple[str, ...]
    bootstrap: tuple[str, ...]
    min_peer_stake: int = 10**16  # wei: heartbeats and bids only from provers staking this


@dataclass(frozen=True)
class RolesConfig:
    requester: bool
    prover: bool


@dataclass(frozen=True)
class ProverConfig:
    price_per_1k_constraints: int  # wei per 1,000 constraints
    margin_bps: int
    capacity: int  # jobs won and not yet settled
    max_workers: int
    max_collateral: int  # wei: do not bid on jobs asking for more collateral


@dataclass(frozen=True)
class RequesterConfig:
    default_collateral: int  # wei
    default_deadline_s: int
    auto_resubmit: bool
    resubmit_fee_factor: float
    resubmit_max_tries: int


@dataclass(frozen=True)
class StoreConfig:
    keep_inputs: bool


@dataclass(frozen=True)
class ApiConfig:
    port: int  # 0: a random free port, written with the token


@dataclass(frozen=True)
class KeysConfig:
    keystore: Path
    password_file: Path | None
    password_env: str


@dataclass(frozen=True)
class LoggingConfig:
    level: str


@dataclass(frozen=True)
class NodeConfig:
    """Everything the daemon is configured with."""

    chain: ChainConfig
    p2p: P2PSection
    roles: RolesConfig
    prover: ProverConfig
    requester: RequesterConfig
    store: StoreConfig
    api: ApiConfig
    keys: KeysConfig
    logging: LoggingConfig


_NO_DEFAULT = object()
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_var_name(raw: object) -> str:
    if not isinstance(raw, str) or not _ENV_NAME.match(raw):
        raise ValueError("is not an environment variable name")
    return raw


FIELDS: tuple[Field, ...] = (
    Field("chain.rpc_url", url, _NO_DEFAULT, "PROVERNET_RPC_URL"),
    Field("chain.chain_id", int_range(1, 2**64 - 1), _NO_DEFAULT, "PROVERNET_CHAIN_ID"),
    # A deployment file (node.chain.deploy) whose chain id, block and addresses fill
    # the chain.* fields config.toml leaves out; ``node init`` copies them in instead.
    Field("chain.deployment", path, None),
    Field("chain.deployment_block", int_range(0, 2**64 - 1), 0),
    Field("chain.model_registry", address, _NO_DEFAULT),
    Field("chain.prover_staking", address, _NO_DEFAULT),
    Field("chain.job_market", address, _NO_DEFAULT),
    # Two blocks on top: a shallow reorg cannot remove an event acted on (node.chain.events).
    Field("chain.confirmations", int_range(0, 1000), 2, "PROVERNET_CONFIRMATIONS"),
    # One check per anvil/Ethereum block or faster (12 s slots; devnets mine on demand).
    Field("chain.poll_interval", duration, 2.0, "PROVERNET_POLL_INTERVAL", format_duration),
    # 2,000 blocks per eth_getLogs: under the common hosted-provider limits.
    Field("chain.max_log_range", int_range(1, 1_000_000), 2000, "PROVERNET_MAX_LOG_RANGE"),
    Field(
        "p2p.listen", multiaddrs(need_peer_id=False), ("/ip4/0.0.0.0/tcp/4001",), "PROVERNET_LISTEN"
    ),
    Field("p2p.bootstrap", multiaddrs(need_peer_id=True), (), "PROVERNET_BOOTSTRAP"),
    # 0.01 ether locked per identity makes a flood of heartbeat or bid signers cost money.
    Field("p2p.min_peer_stake", amount(MAX_AMOUNT), 10**16, render=format_amount),
    Field("roles.requester", boolean, True),
    Field("roles.prover", boolean, False),
    # Starting prices for an operator to tune: 1 gwei per 1,000 constraints, a 10 % margin.
    Field(
        "prover.price_per_1k_constraints",
        amount(MAX_AMOUNT),
        10**9,
        "PROVERNET_PRICE_PER_1K",
        format_amount,
    ),
    Field("prover.margin_bps", int_range(0, 10 * BPS), 1000, "PROVERNET_MARGIN_BPS"),
    Field("prover.capacity", int_range(1, 10_000), 4, "PROVERNET_CAPACITY"),
    Field("prover.max_workers", int_range(1, 1024), 1, "PROVERNET_WORKERS"),
    Field("prover.max_collateral", amount(MAX_AMOUNT), 10**17, render=format_amount),
    Field("requester.default_collateral", amount(MAX_AMOUNT), 10**16, render=format_amount),
    Field("requester.default_deadline", duration, 600.0, render=format_duration),
    Field("requester.auto_resubmit", boolean, True),
    Field("requester.resubmit_fee_factor", ratio(1.0, 10.0), 1.5),
    Field("requester.resubmit_max_tries", int_range(0, 100), 2),
    Field("store.keep_inputs", boolean, False),
    Field("api.port", int_range(0, 65535), 0, "PROVERNET_API_PORT"),
    Field("keys.keystore", path, Path("keystore.json")),
    Field("keys.password_file", path, None, "PROVERNET_PASSWORD_FILE"),
    Field("keys.password_env", _env_var_name, PASSWORD_ENV),
    Field(
        "logging.level", choice("debug", "info", "warning", "error"), "info", "PROVERNET_LOG_LEVEL"
    ),
)
ENV_NAMES: dict[str, str] = {f.env: f.name for f in FIELDS if f.env}
_BY_NAME = {f.name: f for f in FIELDS}
_HEADER = """provernet node configuration (node.config documents every setting).
Amounts take units (0.01eth, 10gwei); durations too (90s, 10m, 2h).
Environment variables and command-line flags override what is written here."""


def render_config(values: Mapping[str, Any]) -> str:
    """config.toml with ``values`` (dotted names) and every other setting at its default.

    Raises ConfigError, as ``resolve_config`` would, if the result is not a valid config.
    """
    unknown = sorted(set(values) - set(_BY_NAME))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown setting")
    tables: dict[str, dict[str, object]] = {}
    for field in FIELDS:
        value = values.get(field.name, field.default)
        if value is None or value is _NO_DEFAULT:
            continue
        value = field.parse(value)
        section, key = field.name.split(".")
        tables.setdefault(section, {})[key] = field.render(value) if field.render else value
    text = dumps_tables(tables, _HEADER)
    resolve_config(tomllib.loads(text), {}, {})
    return text


# Settings that existed once, with what replaced them (shown instead of "unknown").
_REMOVED = {
    "prover.rescue": "an overdue job is slashed and re-opened for bids, and every prover "
    "bids on it as on any job; delete the line",
}


def _flatten(file_values: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, table in file_values.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{section}: expected a [{section}] table, got {table!r}")
        for key, value in table.items():
            name = f"{section}.{key}"
            if name in _REMOVED:
                raise ConfigError(f"{name}: no longer a setting: {_REMOVED[name]}")
            if name not in _BY_NAME:
                raise ConfigError(f"{name}: unknown setting")
            flat[name] = value
    return flat


def resolve_config(
    file_values: Mapping[str, Any],
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    *,
    home: Path | None = None,
) -> NodeConfig:
    """The configuration from flags > env > file > defaults; raises ConfigError.

    ``file_values`` is config.toml's content (tables by section), ``flags`` maps
    dotted field names to values (None: not given). Relative paths are taken
    relative to ``home`` when it is given.
    """
    from_file = _flatten(file_values)
    unknown = sorted(set(flags) - set(_BY_NAME))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown setting")
    values: dict[str, Any] = {}
    for field in FIELDS:
        values[field.name] = _pick(field, from_file, env, flags)
    if home is not None:
        for name in ("keys.keystore", "keys.password_file", "chain.deployment"):
            if values[name] is not None:
                values[name] = home / values[name]
    return _build(values)


def _pick(
    field: Field, from_file: Mapping[str, Any], env: Mapping[str, str], flags: Mapping[str, Any]
) -> Any:
    if flags.get(field.name) is not None:
        return field.parse(flags[field.name])
    if field.env and field.env in env:
        return field.parse(env[field.env])
    if field.name in from_file:
        return field.parse(from_file[field.name])
    if field.default is _NO_DEFAULT:
        raise ConfigError(f"{field.name}: missing (set it in config.toml{_env_hint(field)})")
    return field.default


def _env_hint(field: Field) -> str:
    return f" or ${field.env}" if field.env else ""


def _build(v: Mapping[str, Any]) -> NodeConfig:
    if not (v["roles.requester"] or v["roles.prover"]):
        raise ConfigError("roles: a node needs a role; set roles.requester or roles.prover")
    if float(v["requester.default_deadline"]) != int(v["requester.default_deadline"]):
        raise ConfigError(
            f"requester.default_deadline: {v['requester.default_deadline']!r} "
            "is not a whole number of seconds"
        )
    return NodeConfig(
        chain=ChainConfig(
            rpc_url=v["chain.rpc_url"],
            chain_id=v["chain.chain_id"],
            deployment_block=v["chain.deployment_block"],
            model_registry=v["chain.model_registry"],
            prover_staking=v["chain.prover_staking"],
            job_market=v["chain.job_market"],
            confirmations=v["chain.confirmations"],
            poll_interval_s=v["chain.poll_interval"],
            max_log_range=v["chain.max_log_range"],
        ),
        p2p=P2PSection(
            listen=v["p2p.listen"],
            bootstrap=v["p2p.bootstrap"],
            min_peer_stake=v["p2p.min_peer_stake"],
        ),
        roles=RolesConfig(requester=v["roles.requester"], prover=v["roles.prover"]),
        prover=ProverConfig(
            price_per_1k_constraints=v["prover.price_per_1k_constraints"],
            margin_bps=v["prover.margin_bps"],
            capacity=v["prover.capacity"],
            max_workers=v["prover.max_workers"],
            max_collateral=v["prover.max_collateral"],
        ),
        requester=RequesterConfig(
            default_collateral=v["requester.default_collateral"],
            default_deadline_s=int(v["requester.default_deadline"]),
            auto_resubmit=v["requester.auto_resubmit"],
            resubmit_fee_factor=v["requester.resubmit_fee_factor"],
            resubmit_max_tries=v["requester.resubmit_max_tries"],
        ),
        store=StoreConfig(keep_inputs=v["store.keep_inputs"]),
        api=ApiConfig(port=v["api.port"]),
        keys=KeysConfig(
            keystore=v["keys.keystore"],
            password_file=v["keys.password_file"],
            password_env=v["keys.password_env"],
        ),
        logging=LoggingConfig(level=v["logging.level"]),
    )


def read_config_file(path: Path) -> dict[str, Any]:
    """config.toml's content; a syntax error names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no configuration at {path}; run `provernet node init` first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def load_config(home: Path, env: Mapping[str, str], flags: Mapping[str, Any]) -> NodeConfig:
    """Read ``home``/config.toml (and the deployment file it names) and resolve the config."""
    file_values = read_config_file(home / "config.toml")
    chain = file_values.get("chain")
    if isinstance(chain, Mapping) and chain.get("deployment"):
        location = home / _BY_NAME["chain.deployment"].parse(chain["deployment"])
        file_values = {**file_values, "chain": _with_deployment(chain, location)}
    return resolve_config(file_values, env, flags, home=home)


def _deployment_values(deployment: Deployment) -> dict[str, object]:
    return {
        "chain_id": deployment.chain_id,
        "deployment_block": deployment.block,
        "model_registry": deployment.contracts["ModelRegistry"],
        "prover_staking": deployment.contracts["ProverStaking"],
        "job_market": deployment.contracts["JobMarket"],
    }


def _with_deployment(chain: Mapping[str, Any], location: Path) -> dict[str, Any]:
    """``chain`` with the fields it leaves out taken from the deployment file."""
    try:
        deployment = Deployment.load(location)
    except DeploymentFileError as exc:
        raise ConfigError(f"chain.deployment: {exc}") from None
    merged = dict(chain)
    for key, value in _deployment_values(deployment).items():
        if key not in merged:
            merged[key] = value
        elif _BY_NAME[f"chain.{key}"].parse(merged[key]) != _BY_NAME[f"chain.{key}"].parse(value):
            raise ConfigError(
                f"chain.{key}: {merged[key]!r} differs from the deployment file's {value!r}"
            )
    return merged
