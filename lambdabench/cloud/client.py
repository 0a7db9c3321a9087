"""LambdaCloud: the Lambda Cloud API over httpx, paced, retried where safe, errors typed."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from lambdabench.cloud.errors import (
    CloudError,
    LaunchOutcomeUnknown,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    RedirectedError,
    TransportError,
    UnknownCloudError,
    error_from_response,
)
from lambdabench.cloud.models import (
    Filesystem,
    FirewallRule,
    FirewallRuleset,
    Image,
    Instance,
    InstanceType,
    Region,
    SSHKey,
    TypeAvailability,
)
from lambdabench.cloud.pacing import Pacer
from lambdabench.names import DEFAULT_API_URL
from lambdabench.names import VERSION as __version__
from lambdabench.secrets import Secret, redact

MAX_BODY = 16 * 1024 * 1024


@dataclass
class RetryPolicy:
    """How hard to retry idempotent calls: attempts and a total time budget."""

    attempts: int = 8
    budget_s: float = 600.0
    base_s: float = 1.0
    max_backoff_s: float = 60.0
    rate_limit_s: float = 60.0  # the documented lock-out when no Retry-After is given
    launch_lookup_s: float = 60.0  # how long a lost launch is looked for by name
    # a Retry-After is honoured up to this; a longer one (a WAF rule's own value wins at Cloudflare's
    # edge, FIELD-NOTES "Rate limits") is an outage: retried every this many seconds, aloud
    retry_after_cap_s: float = 60.0


# a connect that has not completed by then is said to the user at once (an unreachable API says so
# within 10 s) and retried; a guess, not a documented figure: a TCP connect that loses its
# SYN retries it after 1 s and 3 s on Linux (tcp_syn_retries' backoff), so 5 s still allows two of those
CONNECT_TIMEOUT_S = 5.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (RateLimitedError, ProviderError, TransportError))


class LambdaCloud:
    """A client for the Lambda Cloud API (spec 1.10.0); one instance may be shared by threads."""

    def __init__(
        self,
        api_key: Secret | str,
        base_url: str = DEFAULT_API_URL,
        *,
        transport: httpx.BaseTransport | None = None,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        self.base_url = base_url.rstrip("/")
        self.pacer = pacer or Pacer()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)),
            headers={"User-Agent": f"lambdabench/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
        )
        self.requests_sent = 0
        self.on_request: Callable[[str, str, int], None] | None = None
        self.on_wait: Callable[[str], None] | None = None  # where a long wait is said (never a silent hold)
        self.abort: Callable[[], bool] | None = None  # asked during a long wait: true stops it (Cancelled)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LambdaCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None, *, launch: bool = False) -> Any:
        """One paced request; returns `data` or raises a typed CloudError."""
        self.pacer.acquire(launch=launch, notify=self.on_wait, abort=self.abort)
        headers = {"Authorization": f"Bearer {self._key.reveal()}"}
        content = json.dumps(body).encode() if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        self.requests_sent += 1
        try:
            resp = self._http.request(method, path, content=content, headers=headers)
        except httpx.ConnectTimeout as exc:  # nothing answered (a firewall drops the packets, a dead route)
            connect = self._http.timeout.connect
            raise TransportError(
                f"Could not reach the Lambda API at {self.base_url} (no connection within {connect:g}s)"
            ) from exc
        except httpx.TimeoutException as exc:
            raise TransportError(f"Lambda API timed out on {method} {path}") from exc
        except httpx.HTTPError as exc:
            raise TransportError(
                f"Could not reach the Lambda API at {self.base_url} ({type(exc).__name__}: {redact(str(exc))})"
            ) from exc
        if self.on_request:
            self.on_request(method, path, resp.status_code)
        raw = resp.content[:MAX_BODY]
        if 300 <= resp.status_code < 400:
            # an old base URL (cloud.lambdalabs.com) redirects, and a redirected POST may turn into a
            # GET (FIELD-NOTES "Contract essentials"): fail at once, naming where it points
            location = redact(resp.headers.get("location", "?"))
            raise RedirectedError(
                f"the Lambda API at {self.base_url} redirected {method} {path} to {location}",
                f"Set LAMBDABENCH_API_URL to the new address (e.g. {DEFAULT_API_URL}).",
                status=resp.status_code,
            )
        if resp.status_code != 200:
            err = error_from_response(
                resp.status_code, raw, resp.headers.get("content-type", ""), resp.headers.get("retry-after")
            )
            if isinstance(err, RateLimitedError):
                self.pacer.hold(self._lockout(err))
            raise err
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ProviderError(
                f"Lambda API answered {method} {path} with a body that is not JSON", status=200
            ) from None
        if not isinstance(payload, dict) or "data" not in payload:
            raise ProviderError(f"Lambda API answered {method} {path} without a `data` field", status=200)
        return payload["data"]

    def _lockout(self, err: RateLimitedError) -> float:
        """How long to hold every request after a 429: Retry-After up to the cap; past it, an outage."""
        asked, cap = err.retry_after, self.retry.retry_after_cap_s
        if asked is None:
            return self.retry.rate_limit_s
        if asked > cap:
            err.message = f"{err.message}; asked to wait {asked:.0f}s (Retry-After), retrying every {cap:.0f}s"
            if self.on_wait is not None:
                self.on_wait(
                    f"the Lambda API asks to wait {asked:.0f}s (Retry-After): treated as an outage, "
                    f"retrying every {cap:.0f}s (Ctrl-C to stop)"
                )
            return cap
        return asked

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError):
            # the pacer already holds everybody back; sleep is done by the next acquire()
            return 0.0
        if isinstance(exc, TransportError) and state.attempt_number == 1 and self.on_wait is not None:
            # said at the first failure (a connect gives up in CONNECT_TIMEOUT_S), never after a silent minute of retries
            self.on_wait(f"{exc.message}; retrying for up to {self.retry.budget_s:.0f}s (Ctrl-C to stop)")
        backoff = min(self.retry.max_backoff_s, self.retry.base_s * (2 ** (state.attempt_number - 1)))
        return random.uniform(backoff / 2, backoff)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """An idempotent call: retried with jittered backoff on 429, 5xx, provider and transport errors."""
        started = self._clock()
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retryable),
            stop=tenacity.stop_after_attempt(self.retry.attempts) | tenacity.stop_before_delay(self.retry.budget_s),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._send, method, path, body)
        except (RateLimitedError, ProviderError, TransportError) as exc:
            spent = self._clock() - started
            if spent > 1 or self.retry.attempts > 1:
                exc.message = f"{exc.message} (gave up after {self.retry.attempts} tries / {spent:.0f}s)"
            raise

    # -- instance types, regions, images -------------------------------------------------------

    def list_instance_types(self) -> list[TypeAvailability]:
        data = self._call("GET", "/instance-types")
        if not isinstance(data, dict):
            raise ProviderError("Lambda API returned malformed instance types (expected an object)")
        out: list[TypeAvailability] = []
        for key, item in data.items():
            if not isinstance(item, dict):
                continue
            raw_type = item.get("instance_type") if isinstance(item.get("instance_type"), dict) else None
            if raw_type is None:
                continue
            raw_type = {"name": key, **raw_type}
            regions = item.get("regions_with_capacity_available")
            out.append(
                TypeAvailability(
                    InstanceType.from_api(raw_type),
                    tuple(
                        Region.from_api(r)
                        for r in (regions if isinstance(regions, list) else [])
                        if isinstance(r, dict) and r.get("name")
                    ),
                )
            )
        return sorted(out, key=lambda t: (t.instance_type.gpus == 0, t.instance_type.name))

    def list_regions(self) -> list[Region]:
        return [Region.from_api(r) for r in _list(self._call("GET", "/regions"), "regions")]

    def list_images(self) -> list[Image]:
        return [Image.from_api(i) for i in _list(self._call("GET", "/images"), "images")]

    # -- instances -----------------------------------------------------------------------------

    def list_instances(self) -> list[Instance]:
        return [Instance.from_api(i) for i in _list(self._call("GET", "/instances"), "instances")]

    def get_instance(self, instance_id: str) -> Instance:
        return Instance.from_api(self._call("GET", f"/instances/{instance_id}"))

    def find_by_name(self, name: str) -> list[Instance]:
        return [i for i in self.list_instances() if i.name == name]

    def launch(
        self,
        *,
        instance_type: str,
        region: str,
        ssh_key_name: str,
        name: str,
        tags: Sequence[tuple[str, str]] = (),
        hostname: str | None = None,
        file_system_names: Sequence[str] = (),
        image_family: str | None = None,
        user_data: str | None = None,
        firewall_ruleset_ids: Sequence[str] = (),
    ) -> str:
        """Launch one instance under a unique `name`; returns its (first) id. See launch_all."""
        return self.launch_all(
            instance_type=instance_type,
            region=region,
            ssh_key_name=ssh_key_name,
            name=name,
            tags=tags,
            hostname=hostname,
            file_system_names=file_system_names,
            image_family=image_family,
            user_data=user_data,
            firewall_ruleset_ids=firewall_ruleset_ids,
        )[0]

    def launch_all(
        self,
        *,
        instance_type: str,
        region: str,
        ssh_key_name: str,
        name: str,
        tags: Sequence[tuple[str, str]] = (),
        hostname: str | None = None,
        file_system_names: Sequence[str] = (),
        image_family: str | None = None,
        user_data: str | None = None,
        firewall_ruleset_ids: Sequence[str] = (),
    ) -> list[str]:
        """Launch one instance under a unique `name`; returns EVERY id the answer names (the spec's
        `instance_ids` is a list: a second one is a twin that bills too, and is tracked, never dropped).

        Sent once. A 429 means the request was not processed (the spec's rate-limit section), so it
        goes again after the lock-out. Any other ambiguous answer (5xx, `global/unknown`, a lost or
        malformed answer) may come AFTER the instance was created (SkyPilot PR #3410): the name is
        looked up for a bounded time and, if it is not listed yet, LaunchOutcomeUnknown is raised —
        never a second launch (SkyPilot and dstack never resend; a late first instance would become
        an untracked twin).
        """
        body: dict[str, Any] = {
            "region_name": region,
            "instance_type_name": instance_type,
            "ssh_key_names": [ssh_key_name],
            "name": name,
        }
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags]
        if hostname:
            body["hostname"] = hostname
        if file_system_names:
            body["file_system_names"] = list(file_system_names)
        if image_family:
            body["image"] = {"family": image_family}
        if user_data:
            body["user_data"] = user_data
        if firewall_ruleset_ids:
            body["firewall_rulesets"] = [{"id": i} for i in firewall_ruleset_ids]
        deadline = self._clock() + self.retry.budget_s
        while True:
            try:
                data = self._send("POST", "/instance-operations/launch", body, launch=True)
            except RateLimitedError:
                if self._clock() > deadline:
                    raise
                continue  # not processed; the pacer holds until the lock-out ends
            except (ProviderError, TransportError, UnknownCloudError) as exc:
                return [self._reconcile_launch(name, exc)]
            ids = data.get("instance_ids") if isinstance(data, dict) else None
            good = [i for i in ids if isinstance(i, str) and i] if isinstance(ids, list) else []
            if not good:
                return [
                    self._reconcile_launch(
                        name, ProviderError("Lambda API accepted a launch but returned no instance id")
                    )
                ]
            return list(dict.fromkeys(good))

    def _reconcile_launch(self, name: str, cause: CloudError) -> str:
        found = self._look_for_launch(name)
        if found:
            return found
        raise LaunchOutcomeUnknown(
            f"launch of {name} answered ambiguously ({cause.one_line()}) and the name is not listed "
            f"after {self.retry.launch_lookup_s:.0f}s",
            name=name,
            cause=cause,
        )

    def _look_for_launch(self, name: str) -> str | None:
        """After an ambiguous launch answer: poll the list for our unique name for a bounded time."""
        deadline = self._clock() + self.retry.launch_lookup_s
        while True:
            try:
                matches = self.find_by_name(name)
            except CloudError:
                matches = []
            live = [i for i in matches if not i.is_ending] or matches
            if live:
                return live[0].id
            if self._clock() >= deadline:
                return None
            self._sleep(min(5.0, max(0.05, self.retry.launch_lookup_s / 12)))

    def terminate(self, instance_ids: Iterable[str]) -> list[Instance]:
        """One terminate request (retried on 429/5xx/transport); returns what the API says it terminated.

        Errors are raised as they come: `global/unknown` is what an already-terminating instance gets
        (SkyPilot PR #3410) and a 404 what an id still invisible after launch may get — the caller
        decides by re-checking that id (see lambdabench.run.nodes.terminate_and_verify).
        """
        ids = list(dict.fromkeys(instance_ids))
        if not ids:
            return []
        data = self._call("POST", "/instance-operations/terminate", {"instance_ids": ids})
        items = data.get("terminated_instances") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError("Lambda API answered a terminate without a `terminated_instances` list", status=200)
        return [Instance.from_api(i) for i in items if isinstance(i, dict)]

    def instance_or_none(self, instance_id: str) -> Instance | None:
        """GET /instances/{id}; None for a 404 (not known, or not visible yet)."""
        try:
            return self.get_instance(instance_id)
        except NotFoundError:
            return None

    def restart(self, instance_ids: Iterable[str]) -> list[Instance]:
        data = self._call("POST", "/instance-operations/restart", {"instance_ids": list(instance_ids)})
        items = data.get("restarted_instances") if isinstance(data, dict) else None
        return [Instance.from_api(i) for i in items or [] if isinstance(i, dict)]

    def rename(self, instance_id: str, name: str) -> Instance:
        return Instance.from_api(self._call("POST", f"/instances/{instance_id}", {"name": name}))

    # -- SSH keys ------------------------------------------------------------------------------

    def list_ssh_keys(self) -> list[SSHKey]:
        return [SSHKey.from_api(k) for k in _list(self._call("GET", "/ssh-keys"), "SSH keys")]

    def add_ssh_key(self, name: str, public_key: str) -> SSHKey:
        return SSHKey.from_api(self._send_once("POST", "/ssh-keys", {"name": name, "public_key": public_key}))

    def delete_ssh_key(self, key_id: str) -> None:
        self._call("DELETE", f"/ssh-keys/{key_id}")

    # -- filesystems ---------------------------------------------------------------------------

    def list_filesystems(self) -> list[Filesystem]:
        return [Filesystem.from_api(f) for f in _list(self._call("GET", "/file-systems"), "filesystems")]

    def create_filesystem(self, name: str, region: str) -> Filesystem:
        data = self._send_once("POST", "/filesystems", {"name": name, "region": region})
        if isinstance(data, list):
            data = data[0] if data else {}
        return Filesystem.from_api(data)

    def delete_filesystem(self, fs_id: str) -> None:
        self._call("DELETE", f"/filesystems/{fs_id}")

    # -- firewall ------------------------------------------------------------------------------

    def list_firewall_rules(self) -> list[FirewallRule]:
        return [FirewallRule.from_api(r) for r in _list(self._call("GET", "/firewall-rules"), "firewall rules")]

    def set_firewall_rules(self, rules: Sequence[FirewallRule]) -> list[FirewallRule]:
        data = self._call("PUT", "/firewall-rules", {"data": [r.to_api() for r in rules]})
        return [FirewallRule.from_api(r) for r in _list(data, "firewall rules")]

    def list_firewall_rulesets(self) -> list[FirewallRuleset]:
        data = self._call("GET", "/firewall-rulesets")
        return [FirewallRuleset.from_api(r) for r in _list(data, "firewall rulesets")]

    def get_firewall_ruleset(self, ruleset_id: str) -> FirewallRuleset:
        return FirewallRuleset.from_api(self._call("GET", f"/firewall-rulesets/{ruleset_id}"))

    def create_firewall_ruleset(self, name: str, region: str, rules: Sequence[FirewallRule]) -> FirewallRuleset:
        body = {"name": name, "region": region, "rules": [r.to_api() for r in rules]}
        return FirewallRuleset.from_api(self._send_once("POST", "/firewall-rulesets", body))

    def update_firewall_ruleset(
        self, ruleset_id: str, *, name: str | None = None, rules: Sequence[FirewallRule] | None = None
    ) -> FirewallRuleset:
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if rules is not None:
            body["rules"] = [r.to_api() for r in rules]
        return FirewallRuleset.from_api(self._call("PATCH", f"/firewall-rulesets/{ruleset_id}", body))

    def delete_firewall_ruleset(self, ruleset_id: str) -> None:
        self._call("DELETE", f"/firewall-rulesets/{ruleset_id}")

    def get_global_firewall_ruleset(self) -> FirewallRuleset:
        return FirewallRuleset.from_api(self._call("GET", "/firewall-rulesets/global"))

    def update_global_firewall_ruleset(self, rules: Sequence[FirewallRule]) -> FirewallRuleset:
        body = {"rules": [r.to_api() for r in rules]}
        return FirewallRuleset.from_api(self._call("PATCH", "/firewall-rulesets/global", body))

    def _send_once(self, method: str, path: str, body: dict[str, Any]) -> Any:
        """A creating call: retried only on 429 (not processed), never on ambiguous failures."""
        deadline = self._clock() + self.retry.budget_s
        while True:
            try:
                return self._send(method, path, body)
            except RateLimitedError:
                if self._clock() > deadline:
                    raise


def _list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise ProviderError(f"Lambda API returned malformed {what} (expected a list)")
    return data
