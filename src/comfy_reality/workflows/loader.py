"""One entry point from "a file or dict the user gave us" to "an API prompt the server accepts"."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidWorkflowError
from .formats import WorkflowFormat, detect_format, read_json_file, unwrap_prompt

if TYPE_CHECKING:
    from .object_info import ObjectInfo


def load_prompt(
    path_or_data: Path | str | dict[str, Any],
    object_info: ObjectInfo | None = None,
    *,
    correct_frontend_defects: bool = False,
) -> dict[str, Any]:
    """The API prompt of a workflow file or parsed JSON; UI workflows are converted with ``object_info``.

    By default the conversion is the web UI's, defects included; ``correct_frontend_defects``
    gives what disabled subgraphs and legacy group nodes mean instead (see convert_ui_to_api).

    Raises InvalidWorkflowError (MissingNodeTypesError for node types the server lacks) with a
    message naming the file and what is wrong.
    """
    if isinstance(path_or_data, (str, Path)):
        source: str | None = str(path_or_data)
        data = read_json_file(Path(path_or_data))
    else:
        source = None
        data = path_or_data
    fmt, reason = detect_format(data)
    if fmt is WorkflowFormat.INVALID:
        raise InvalidWorkflowError(f"not a ComfyUI workflow: {reason}", source=source)
    if fmt is WorkflowFormat.API:
        prompt = unwrap_prompt(data)
        return {str(k): v for k, v in copy.deepcopy(prompt).items()}
    if object_info is None:
        raise InvalidWorkflowError(
            "this is a web-UI workflow; converting it needs the server's node list (/object_info). "
            "Connect to the server first, or export it from ComfyUI with 'Export (API)'",
            source=source,
        )
    from .convert import convert_ui_to_api  # the converter and its models only for UI-format files

    return convert_ui_to_api(
        data, object_info, source=source, correct_frontend_defects=correct_frontend_defects
    )
