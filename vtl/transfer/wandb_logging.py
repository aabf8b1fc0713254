"""W&B logging for vtl runs: Lightning's WandbLogger that never breaks training and shows the transfer curves.

Select it with a second config, `--config configs/logger/wandb.yaml`. Without an API key (env `WANDB_API_KEY` or a
netrc entry for the W&B host) or without a route to that host the run is written offline under
`<run dir>/wandb/` (`wandb sync` uploads it later); if going online fails anyway, the run falls back to offline.
Keys are read by wandb from the environment only; this module never stores or passes them.
"""

from __future__ import annotations

import netrc
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from vtl.records import scan_jsonl
from vtl.tasks import REGISTRY

DEFAULT_BASE_URL = "https://api.wandb.ai"
OFFLINE_MODES = ("offline", "dryrun")
# Keys the cross-task PGF callback logs once per validation epoch; their W&B x-axis is the epoch.
EPOCH_SUMMARY_KEYS = (
    "transfer/mean_positive_pgf", "transfer/n_positive", "transfer/n_negative", "transfer/n_undefined",
)
FINAL_TABLE_KEY = "transfer/final"
CURVES_KEY = "transfer/pgf_curves"


def wandb_host() -> tuple[str, int]:
    url = urlparse(os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL)
    return url.hostname or "api.wandb.ai", url.port or (80 if url.scheme == "http" else 443)


def has_api_key() -> bool:
    """An API key in the environment or in netrc for the W&B host (where `wandb login` puts it); never read out."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = os.environ.get("NETRC") or Path.home() / ".netrc"
    try:
        return netrc.netrc(path).authenticators(wandb_host()[0]) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def offline_reason() -> str | None:
    """Why this run should be offline (None: go online). An explicit WANDB_MODE wins."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in OFFLINE_MODES:
        return f"WANDB_MODE={mode}"
    if mode in ("online", "run", "disabled"):
        return None
    if not has_api_key():
        return "no W&B API key (set WANDB_API_KEY or run `wandb login`)"
    host, port = wandb_host()
    if not reachable(host, port):
        return f"{host}:{port} is unreachable"
    return None


class WandbLogger(_LightningWandbLogger):
    """Lightning's WandbLogger, offline when W&B cannot be reached, with per-epoch transfer curves.

    On the run's page: `transfer/{task}/pgf` and `val/{task}/acc` plotted against the epoch, a `transfer/pgf_curves`
    chart with one line per target, a `transfer/final` table (per target: final accuracy, zero-shot accuracy, PGF) and
    the resolved config (`<run dir>/config.yaml`) under `config.cli`.
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        save_dir: str | None = None,
        offline: bool | None = None,
        entity: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        log_model: bool = False,
        prefix: str = "",
        **kwargs: Any,
    ):
        """
        Args:
            project: W&B project; default: env WANDB_PROJECT, else "vtl".
            name: run display name; default: W&B's generated name (a sweep agent names its runs itself).
            save_dir: where `wandb/` goes; `vtl fit` sets it to the run dir (trainer.default_root_dir).
            offline: force offline (true) or online (false); null decides: offline without a key or network.
            entity: W&B team or user; default: the key's default entity.
            group: W&B run group, e.g. the sweep or model size.
            job_type: W&B job type, e.g. "transfer".
            tags: W&B tags.
            notes: free-text run notes.
            log_model: upload checkpoints as W&B artifacts (online only).
            prefix: prefix for every logged key.
        """
        reason = offline_reason() if offline is None else ("offline: true in the config" if offline else None)
        if reason is not None and log_model:
            rank_zero_warn("W&B is offline, so log_model is off: checkpoints stay in the run dir")
            log_model = False
        project = project or os.environ.get("WANDB_PROJECT") or "vtl"
        super().__init__(
            name=name, save_dir=save_dir, offline=reason is not None, project=project, entity=entity, group=group,
            job_type=job_type, tags=tags, notes=notes, log_model=log_model, prefix=prefix, **kwargs,
        )
        self.offline_reason = reason
        self._last: dict[str, dict[str, float]] = {}  # target -> {"acc": …, "pgf": …} at the latest epoch
        self._curves: dict[str, dict[int, float]] = {}  # target -> {epoch: pgf}
        self._config_logged = False

    @property
    def experiment(self):  # type: ignore[override]
        """The wandb run; an online start that fails (network, auth) is retried offline instead of failing the fit."""
        fresh = self._experiment is None
        try:
            run = super().experiment
        except Exception as err:  # wandb raises many types (CommError, UsageError, timeouts); none may stop training
            if self._offline:
                raise
            rank_zero_warn(f"W&B could not start online ({type(err).__name__}: {err}); logging offline instead")
            self._offline = True
            self.offline_reason = f"online start failed: {type(err).__name__}"
            self._wandb_init["mode"] = "offline"
            run = super().experiment
        if fresh and self._experiment is not None:
            self._define_epoch_metrics(run)
            if self._offline:
                rank_zero_warn(f"W&B offline ({self.offline_reason}); sync later with `wandb sync {self._run_path()}`")
        return run

    def _run_path(self) -> str:
        run_dir = getattr(self._experiment, "dir", None)  # <save_dir>/wandb/offline-run-…/files
        return str(Path(run_dir).parent) if run_dir else str(Path(self.save_dir or ".") / "wandb")

    @staticmethod
    def _define_epoch_metrics(run) -> None:
        """Exact names (they take precedence over Lightning's `*` -> global_step rule): PGF and accuracy by epoch."""
        if not hasattr(run, "define_metric"):
            return
        run.define_metric("epoch")
        for task in REGISTRY:
            run.define_metric(f"transfer/{task}/pgf", step_metric="epoch")
            run.define_metric(f"val/{task}/acc", step_metric="epoch")
        for key in EPOCH_SUMMARY_KEYS:
            run.define_metric(key, step_metric="epoch")

    @rank_zero_only
    def log_hyperparams(self, params: Any) -> None:
        super().log_hyperparams(params)
        if self._config_logged:
            return
        config = Path(self.save_dir or ".") / "config.yaml"  # the resolved config `vtl fit` writes (secrets removed)
        if config.is_file():
            self.experiment.config.update({"cli": yaml.safe_load(config.read_text())}, allow_val_change=True)
            self._config_logged = True

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        super().log_metrics(metrics, step)
        epoch = metrics.get("epoch")
        for key, value in metrics.items():
            parts = key.split("/")
            if len(parts) != 3 or parts[1] not in REGISTRY or (parts[0], parts[2]) not in (("val", "acc"),
                                                                                         ("transfer", "pgf")):
                continue
            self._last.setdefault(parts[1], {})[parts[2]] = float(value)
            if parts[2] == "pgf" and epoch is not None:
                self._curves.setdefault(parts[1], {})[int(epoch)] = float(value)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._experiment is not None and self._last:
            try:
                self._log_final()
            except Exception as err:  # a summary table must never turn a finished fit into a failed one
                rank_zero_warn(f"W&B final transfer table not logged: {type(err).__name__}: {err}")
        super().finalize(status)

    def _log_final(self) -> None:
        import wandb

        zero_shot = self._zero_shot_accuracies()
        rows = []
        for target in sorted(self._last):
            values = self._last[target]
            rows.append([target, values.get("acc"), zero_shot.get(target), values.get("pgf")])
        table = wandb.Table(columns=["target", "accuracy", "zero_shot_accuracy", "pgf"], data=rows)
        payload: dict[str, Any] = {FINAL_TABLE_KEY: table}
        if self._curves:
            targets = sorted(self._curves)
            epochs = sorted({e for curve in self._curves.values() for e in curve})
            ys = [[self._curves[t].get(e, float("nan")) for e in epochs] for t in targets]
            payload[CURVES_KEY] = wandb.plot.line_series(
                xs=epochs, ys=ys, keys=targets, title="PGF per target", xname="epoch"
            )
        self.experiment.log(payload)
        for target, values in self._last.items():
            for name, value in values.items():
                self.experiment.summary[f"final/{target}/{name}"] = value

    def _zero_shot_accuracies(self) -> dict[str, float]:
        """Zero-shot accuracy per target from the run's transfer.jsonl (written by the PGF callback), when present."""
        path = Path(self.save_dir or ".") / "transfer.jsonl"
        out: dict[str, float] = {}
        if not path.is_file():
            return out
        for line in scan_jsonl(path):  # a torn last line is left out; other bad lines are the analysis' to report
            try:
                out[line.record["target"]] = float(line.record["zero_shot_accuracy"])
            except (KeyError, TypeError, ValueError):
                continue
        return out


def agent_run_dir(root: str = "runs", env: Mapping[str, str] | None = None) -> str | None:
    """Run dir for a fit launched by `wandb agent`: ROOT/wandb-sweep-<sweep id>/<run id>; None outside an agent.

    A W&B agent passes only the sweep's parameters, so without this every run an agent starts would share the base
    config's default_root_dir (and its transfer.jsonl, checkpoints and completion marker).
    """
    env = os.environ if env is None else env
    sweep_id, run_id = env.get("WANDB_SWEEP_ID"), env.get("WANDB_RUN_ID")
    if not sweep_id or not run_id:
        return None
    return str(Path(root) / f"wandb-sweep-{sweep_id}" / run_id)
