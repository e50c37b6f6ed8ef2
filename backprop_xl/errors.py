"""The one kind of error a user can cause: its message is the single line the command line prints."""


class UserError(Exception):
    """Bad input from the user (a spec, an option, a path); the command line exits with status 2."""


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt, so that a write in
    progress is cleaned up the same way; the command line exits with status 143."""


class SpecError(UserError):
    """A spec value that is wrong, naming the key and why."""

    def __init__(self, key: str, why: str, source: str | None = None):
        self.key, self.why, self.source = key, why, source
        super().__init__(f"{source + ': ' if source else ''}{key}: {why}")

    def located(self, source: str) -> "SpecError":
        return SpecError(self.key, self.why, source)
