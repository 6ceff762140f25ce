"""An App whose notifications are plain text: every toast may quote a server or a file.

Textual parses a notification's message as markup by default, so ``notify(f"... {exc}")``
with ``[/]`` in the server's text raises MarkupError and ``[link=...]`` becomes a link.
Overriding ``notify`` once covers every call, the app's and its screens' and widgets' alike
(they all end in ``App.notify``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import App, ReturnType
from textual.notifications import Notify, SeverityLevel

from ..safe_text import safe_str
from ..url_secrets import redact_url

if TYPE_CHECKING:
    from .notices import NoticeFolder


class SafeTextApp(App[ReturnType]):
    """Base class of the app: notifications never interpret markup or escapes, never show URL credentials.

    They also never start a timer with a non-positive time, and a burst of one kind (one per
    queued prompt) shows as one summary toast: see :mod:`.notices`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._notice_folder: NoticeFolder | None = None  # made by the first notification

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        # ``markup`` is ignored on purpose: no caller may opt outside text back into markup.
        if self._notice_folder is None:
            from .notices import NoticeFolder  # not on the way to the first frame

            self._notice_folder = NoticeFolder()
        shown, replaced = self._notice_folder.fold(
            safe_str(redact_url(str(message))),
            title=safe_str(redact_url(str(title)), one_line=True),
            severity=severity,
            timeout=self.NOTIFICATION_TIMEOUT if timeout is None else timeout,
        )
        if replaced is not None:
            self._unnotify(replaced, refresh=False)
        self.post_message(Notify(shown))


__all__ = ["SafeTextApp"]
