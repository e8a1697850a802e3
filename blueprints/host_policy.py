"""The host app's policy: who is asking, which runs they may use, at what tier.

The host registers callbacks through :class:`~blueprints.extension.CodexRelay`'s
decorators; :class:`HostPolicy` keeps them and calls them. Every callback has
a safe default: no user, no access, no run directory, tier ``read``, no
admin role, no API key accepted, no runs listed, and the configured approval
policy (``CODEX_RELAY_APPROVAL_POLICY``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from relay.errors import ConfigError

__all__ = [
    "ADMIN_ROLES",
    "APPROVAL_POLICIES",
    "AdminAuthorizer",
    "ApprovalPolicyLoader",
    "ApiKeyLoader",
    "HostPolicy",
    "RunAuthorizer",
    "RunDirResolver",
    "RunsLister",
    "TierLoader",
    "UserLoader",
]

UserLoader = Callable[[], "str | None"]
RunAuthorizer = Callable[[str, str, str], bool]
RunDirResolver = Callable[[str], "str | Path | None"]
TierLoader = Callable[[str, str, str], str]
AdminAuthorizer = Callable[[str], "bool | str | None"]
ApprovalPolicyLoader = Callable[[str, str, str], "str | None"]
ApiKeyLoader = Callable[[str], "str | None"]
RunsLister = Callable[[str], Iterable[tuple[str, str]]]

#: Roles an admin authorizer may grant: ``admin`` may act, ``viewer`` may only look.
ADMIN_ROLES = ("admin", "viewer")
#: When the agent asks before acting (Codex's approval policies the relay offers).
APPROVAL_POLICIES = ("never", "untrusted", "on-request")


def _deny_user() -> str | None:
    return None


def _deny_run(user: str, runid: str, config: str) -> bool:
    return False


def _no_run_dir(runid: str) -> str | Path | None:
    return None


def _read_tier(user: str, runid: str, config: str) -> str:
    return "read"


def _deny_admin(user: str) -> bool | str | None:
    return None


def _configured_policy(user: str, runid: str, tier: str) -> str | None:
    return None  # None: the setting decides


def _deny_key(key: str) -> str | None:
    return None


def _no_runs(user: str) -> Iterable[tuple[str, str]]:
    return ()


class HostPolicy:
    """The host's callbacks, with safe defaults, and the one place that calls them."""

    def __init__(self) -> None:
        self.user_loader: UserLoader = _deny_user
        self.run_authorizer: RunAuthorizer = _deny_run
        self.run_dir_resolver: RunDirResolver = _no_run_dir
        self.tier_loader: TierLoader = _read_tier
        self.admin_authorizer: AdminAuthorizer = _deny_admin
        self.approval_policy_loader: ApprovalPolicyLoader = _configured_policy
        self.api_key_loader: ApiKeyLoader = _deny_key
        self.runs_lister: RunsLister = _no_runs

    def current_user(self) -> str | None:
        """The current user's id per the host, or ``None``."""
        user = self.user_loader()
        return str(user) if user not in (None, "") else None

    def authorize(self, user: str, runid: str, config: str) -> bool:
        """Whether the host lets ``user`` use ``runid``/``config``."""
        return bool(self.run_authorizer(user, runid, config))

    def run_dir(self, runid: str) -> str | None:
        """The run's directory, or ``None`` for an unknown run."""
        found = self.run_dir_resolver(runid)
        if found is None:
            return None
        path = Path(found).resolve()
        return str(path) if path.is_dir() else None

    def tier(self, user: str, runid: str, config: str) -> str:
        """The tier the host grants (anything unknown counts as ``read``)."""
        tier = self.tier_loader(user, runid, config)
        return tier if tier in ("read", "edit") else "read"

    def admin_role(self, user: str) -> str | None:
        """The admin role the host grants ``user``: ``"admin"``, ``"viewer"`` or ``None``."""
        role = self.admin_authorizer(user)
        if role is True:
            return "admin"
        return role if isinstance(role, str) and role in ADMIN_ROLES else None

    def is_admin(self, user: str) -> bool:
        """Whether the host lets ``user`` act in the admin views (role ``admin``)."""
        return self.admin_role(user) == "admin"

    def approval_policy(self, user: str, runid: str, tier: str, default: str) -> str:
        """The approval policy of ``user``'s turn on ``runid`` at ``tier`` (else ``default``).

        A host callback that answers something else than a policy is a
        configuration error, not a silent ``never``.
        """
        policy = self.approval_policy_loader(user, runid, tier)
        if policy is None:
            return default
        if policy not in APPROVAL_POLICIES:
            raise ConfigError(
                "approval_policy_loader",
                f"returned {policy!r}; expected one of {', '.join(APPROVAL_POLICIES)}",
            )
        return str(policy)

    def user_for_key(self, key: str) -> str | None:
        """The user an API key stands for per the host, or ``None``."""
        user = self.api_key_loader(key)
        return str(user) if user not in (None, "") else None

    def runs_for(self, user: str) -> list[tuple[str, str]]:
        """The ``(runid, config)`` pairs the host lists for ``user``, each once, in order."""
        return list(dict.fromkeys((str(r), str(c)) for r, c in self.runs_lister(user)))
