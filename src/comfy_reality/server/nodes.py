"""Simulated node behaviours, per class_type.

Loaders and encoders take a short while, samplers report one progress step at a time (with a
preview every few steps), image nodes propagate sizes, and save nodes write real PNG files.
Every other class in the catalogue gets a generic behaviour that returns placeholders of the
declared output types, so any graph that validates also runs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from comfy_reality.server.catalogue import NodeCatalogue
from comfy_reality.server.executor import (
    NodeBehaviour,
    NodeContext,
    NodeFailure,
    NodeResult,
)
from comfy_reality.server.png import png_size
from comfy_reality.server.storage import PathRejected
from comfy_reality.server.values import (
    ExecutionBlocker,
    Handle,
    ImageValue,
    LatentValue,
)

# Seconds of simulated work at speed 1.0.
LOAD_CHECKPOINT_S = 1.2
LOAD_SMALL_MODEL_S = 0.35
ENCODE_TEXT_S = 0.15
VAE_S = 0.3
SAMPLER_STEP_S = 0.1  # per step at 512x512; scales with the pixel count
PREVIEW_EVERY = 3  # sampler steps between preview frames

_Behaviour = Callable[[NodeContext, dict[str, Any]], Awaitable[NodeResult]]
_REGISTRY: dict[str, _Behaviour] = {}


def _frame(path: str, line: int, function: str, code: str, anchor: str | None = None) -> str:
    """One ``traceback.format_tb`` entry, with Python 3.11's caret line under ``anchor``...end."""
    text = f'  File "{path}", line {line}, in {function}\n    {code}\n'
    if anchor is not None:
        start = code.index(anchor)
        text += " " * (4 + start) + "^" * (len(code) - start) + "\n"
    return text


_EXECUTION_FRAMES = [
    _frame(
        "/opt/ComfyUI/execution.py",
        496,
        "execute",
        "output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, "
        "input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)",
        "await",
    ),
    _frame(
        "/opt/ComfyUI/execution.py",
        315,
        "get_output_data",
        "return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, "
        "allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)",
        "await",
    ),
    _frame(
        "/opt/ComfyUI/execution.py", 289, "_async_map_node_over_list", "await process_inputs(input_dict, i)"
    ),
    _frame("/opt/ComfyUI/execution.py", 277, "process_inputs", "result = f(**inputs)", "f(**inputs)"),
]


def _fail(
    exception_type: str,
    message: str,
    module_path: str,
    line: int,
    function: str,
    code: str,
    anchor: str | None = None,
) -> NodeFailure:
    return NodeFailure(
        exception_type, message, [*_EXECUTION_FRAMES, _frame(module_path, line, function, code, anchor)]
    )


def behaviour(*class_types: str) -> Callable[[_Behaviour], _Behaviour]:
    def register(fn: _Behaviour) -> _Behaviour:
        for class_type in class_types:
            _REGISTRY[class_type] = fn
        return fn

    return register


def _image(value: Any) -> ImageValue:
    if isinstance(value, ImageValue):
        return value
    if isinstance(value, LatentValue):
        return ImageValue(value.width, value.height, value.batch, pattern="gradient", seed=value.seed)
    return ImageValue(512, 512, pattern="gradient")


def _latent(value: Any) -> LatentValue:
    if isinstance(value, LatentValue):
        return value
    if isinstance(value, ImageValue):
        return LatentValue(value.width, value.height, value.batch)
    return LatentValue(512, 512)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _seed_of(*parts: Any) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


# -- images ---------------------------------------------------------------------------------


@behaviour("EmptyImage")
async def empty_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    image = ImageValue(
        _int(i.get("width"), 512),
        _int(i.get("height"), 512),
        _int(i.get("batch_size"), 1),
        color=_int(i.get("color")),
    )
    return NodeResult((image,))


@behaviour("ImageInvert")
async def image_invert(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((_image(i.get("image")).invert(),))


def _scaled_size(image: ImageValue, width: int, height: int) -> tuple[int, int]:
    if width == 0 and height == 0:
        return image.width, image.height
    if width == 0:
        width = max(1, round(image.width * height / image.height))
    if height == 0:
        height = max(1, round(image.height * width / image.width))
    return width, height


@behaviour("ImageScale")
async def image_scale(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    image = _image(i.get("image"))
    w, h = _scaled_size(image, _int(i.get("width")), _int(i.get("height")))
    return NodeResult((image.resized(w, h),))


@behaviour("ImageScaleBy")
async def image_scale_by(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    image = _image(i.get("image"))
    factor = float(i.get("scale_by") or 1.0)
    return NodeResult((image.resized(round(image.width * factor), round(image.height * factor)),))


@behaviour("ImageScaleToTotalPixels")
async def image_scale_total(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    image = _image(i.get("image"))
    total = float(i.get("megapixels") or 1.0) * 1024 * 1024
    factor = math.sqrt(total / (image.width * image.height))
    return NodeResult((image.resized(round(image.width * factor), round(image.height * factor)),))


@behaviour("GetImageSize")
async def get_image_size(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    image = _image(i.get("image"))
    await ctx.progress_text(f"width: {image.width}, height: {image.height}\n batch size: {image.batch}")
    return NodeResult((image.width, image.height, image.batch))


@behaviour("ImageToMask")
async def image_to_mask(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    image = _image(i.get("image"))
    channel = str(i.get("channel"))
    channels = ["red", "green", "blue", "alpha"]
    index = channels.index(channel) if channel in channels else 0
    if index >= 3:  # IMAGE tensors are RGB: there is no alpha channel to take
        raise _fail(
            "IndexError",
            "index 3 is out of bounds for dimension 3 with size 3",
            "/opt/ComfyUI/comfy_extras/nodes_mask.py",
            137,
            "image_to_mask",
            "mask = image[:, :, :, channels.index(channel)]",
            "image[",
        )
    value = image.rgb()[index]
    return NodeResult((ImageValue(image.width, image.height, image.batch, color=value * 0x010101),))


@behaviour("MaskToImage")
async def mask_to_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((_image(i.get("mask")),))


@behaviour("LoadImage", "LoadImageMask")
async def load_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    name = str(i.get("image", "")).removesuffix(" [input]")
    try:
        path = ctx.store.resolve_view(name, None, "input")
    except PathRejected:
        path = None
    if path is None:
        raise _fail(
            "FileNotFoundError",
            f"[Errno 2] No such file or directory: '/opt/ComfyUI/input/{name}'",
            "/opt/ComfyUI/nodes.py",
            1656,
            "load_image",
            "img = node_helpers.pillow(Image.open, image_path)",
        )
    width, height = png_size(await ctx.store.read_head(path)) or (512, 512)
    image = ImageValue(width, height, pattern="gradient", seed=_seed_of(name))
    mask = ImageValue(width, height, color=0)
    return NodeResult((image, mask) if len(ctx.return_types()) == 2 else (mask,))


# -- output nodes ---------------------------------------------------------------------------


@behaviour("SaveImage")
async def save_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    images = _image(i.get("images"))
    prefix = str(i.get("filename_prefix") or "ComfyUI")
    try:
        results = await ctx.store.save_images(images, prefix, "output", ctx.original_prompt)
    except PathRejected as exc:
        raise _fail(
            "Exception",
            str(exc),
            "/opt/ComfyUI/folder_paths.py",
            420,
            "get_save_image_path",
            "raise Exception(err)",
        ) from exc
    return NodeResult((), ui={"images": results})


@behaviour("PreviewImage")
async def preview_image(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    images = _image(i.get("images"))
    results = await ctx.store.save_images(
        images, ctx.store.temp_prefix(ctx.node_id), "temp", ctx.original_prompt
    )
    return NodeResult((), ui={"images": results})


@behaviour("SaveImageWebsocket")
async def save_image_websocket(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    images = _image(i.get("images"))
    for step in range(images.batch):
        await ctx.progress(step, images.batch, preview=images, preview_format="PNG")
    return NodeResult(())


@behaviour("PreviewAny")
async def preview_any(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((), ui={"text": [str(i.get("source"))]})


# -- models and sampling --------------------------------------------------------------------


@behaviour(
    "CheckpointLoaderSimple", "CheckpointLoader", "ImageOnlyCheckpointLoader", "unCLIPCheckpointLoader"
)
async def checkpoint_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    name = str(i.get("ckpt_name", ""))
    await ctx.sleep(LOAD_CHECKPOINT_S)
    outputs = {
        "MODEL": Handle("MODEL", name),
        "CLIP": Handle("CLIP", name),
        "VAE": Handle("VAE", name),
        "CLIP_VISION": Handle("CLIP_VISION", name),
    }
    return NodeResult(tuple(outputs.get(t, Handle(t, name)) for t in ctx.return_types()))


@behaviour(
    "VAELoader", "CLIPLoader", "UNETLoader", "ControlNetLoader", "UpscaleModelLoader", "CLIPVisionLoader"
)
async def small_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.sleep(LOAD_SMALL_MODEL_S)
    name = next((str(v) for v in i.values() if isinstance(v, str)), "")
    return NodeResult(tuple(Handle(t, name) for t in ctx.return_types()))


@behaviour("LoraLoader", "LoraLoaderModelOnly")
async def lora_loader(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.sleep(LOAD_SMALL_MODEL_S)
    name = str(i.get("lora_name", ""))
    model = i.get("model")
    clip = i.get("clip")
    patched_model = Handle("MODEL", f"{getattr(model, 'name', '')}+{name}")
    if ctx.return_types() == ("MODEL",):
        return NodeResult((patched_model,))
    return NodeResult((patched_model, Handle("CLIP", f"{getattr(clip, 'name', '')}+{name}")))


@behaviour("CLIPTextEncode")
async def clip_text_encode(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    await ctx.sleep(ENCODE_TEXT_S)
    return NodeResult((Handle("CONDITIONING", str(i.get("text", ""))[:40]),))


@behaviour("EmptyLatentImage", "EmptySD3LatentImage", "EmptyHunyuanLatentVideo")
async def empty_latent(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    latent = LatentValue(_int(i.get("width"), 512), _int(i.get("height"), 512), _int(i.get("batch_size"), 1))
    return NodeResult((latent,))


@behaviour("LatentUpscale")
async def latent_upscale(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i.get("samples"))
    w, h = _int(i.get("width")), _int(i.get("height"))
    if w == 0 and h == 0:
        w, h = latent.width, latent.height
    elif w == 0:
        w = round(latent.width * h / latent.height)
    elif h == 0:
        h = round(latent.height * w / latent.width)
    return NodeResult((replace(latent, width=w, height=h),))


@behaviour("LatentUpscaleBy")
async def latent_upscale_by(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i.get("samples"))
    f = float(i.get("scale_by") or 1.0)
    return NodeResult((replace(latent, width=round(latent.width * f), height=round(latent.height * f)),))


async def _sample(
    ctx: NodeContext, latent: LatentValue, steps: int, seed: int, caption: str = ""
) -> LatentValue:
    pixels = latent.width * latent.height * latent.batch
    step_time = SAMPLER_STEP_S * max(0.25, pixels / (512 * 512))
    # ComfyUI's latent_preview: no previewer for "none"; latent2rgb (and "auto", which picks it
    # when no TAESD decoder is installed) projects the latent, about 1/8 of the image; taesd
    # decodes the whole picture (the server caps it at its preview size).
    method = ctx.preview_method
    scale = 1 if method == "taesd" else 8
    for step in range(1, steps + 1):
        await ctx.sleep(step_time)
        preview = None
        if method != "none" and (step % PREVIEW_EVERY == 0 or step == steps):
            # From noise towards the picture as the steps go by.
            preview = ImageValue(
                max(8, latent.width // scale),
                max(8, latent.height // scale),
                pattern="gradient",
                seed=seed,
                noise_level=1.0 - step / steps,
                caption=caption,
            )
        await ctx.progress(step, steps, preview=preview)
    return replace(latent, seed=seed, denoised=True, label=caption)


@behaviour("KSampler")
async def ksampler(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i.get("latent_image"))
    seed = _seed_of(i.get("seed"), str(i.get("positive")), latent.width, latent.height)
    steps = max(1, _int(i.get("steps"), 20))
    if float(i.get("denoise") or 1.0) < 1.0:
        steps = max(1, round(steps * float(i.get("denoise") or 1.0)))
    return NodeResult((await _sample(ctx, latent, steps, seed, f"seed {i.get('seed')}"),))


@behaviour("KSamplerAdvanced")
async def ksampler_advanced(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i.get("latent_image"))
    total = max(1, _int(i.get("steps"), 20))
    start = max(0, _int(i.get("start_at_step"), 0))
    end = min(total, _int(i.get("end_at_step"), total))
    steps = max(1, end - start)
    seed = _seed_of(i.get("noise_seed"), str(i.get("positive")))
    return NodeResult((await _sample(ctx, latent, steps, seed, f"seed {i.get('noise_seed')}"),))


@behaviour("SamplerCustom", "SamplerCustomAdvanced")
async def sampler_custom(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i.get("latent_image"))
    sigmas = i.get("sigmas")
    steps = int(sigmas.detail.get("steps", 20)) if isinstance(sigmas, Handle) else 20
    noise = i.get("noise")
    seed = _seed_of(
        i.get("noise_seed"), getattr(noise, "name", ""), str(i.get("guider")), str(i.get("positive"))
    )
    out = await _sample(ctx, latent, steps, seed, f"seed {getattr(noise, 'name', '')}")
    return NodeResult((out, out))


@behaviour(
    "BasicScheduler", "KarrasScheduler", "ExponentialScheduler", "SDTurboScheduler", "BetaSamplingScheduler"
)
async def scheduler(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    steps = max(1, _int(i.get("steps"), 20))
    return NodeResult((Handle("SIGMAS", f"{steps} steps", {"steps": steps}),))


@behaviour("RandomNoise")
async def random_noise(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((Handle("NOISE", str(i.get("noise_seed"))),))


@behaviour("VAEDecode", "VAEDecodeTiled")
async def vae_decode(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i.get("samples"))
    await ctx.sleep(VAE_S * max(0.25, latent.width * latent.height / (512 * 512)))
    pattern = "gradient" if latent.denoised else "noise"
    return NodeResult(
        (
            ImageValue(
                latent.width,
                latent.height,
                latent.batch,
                pattern=pattern,
                seed=latent.seed,
                caption=latent.label,
            ),
        )
    )


@behaviour("VAEEncode", "VAEEncodeTiled")
async def vae_encode(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    image = _image(i.get("pixels"))
    await ctx.sleep(VAE_S * max(0.25, image.width * image.height / (512 * 512)))
    # Latents are 1/8 of the image: sizes snap down to a multiple of 8 like a real VAE.
    return NodeResult(
        (LatentValue(image.width // 8 * 8, image.height // 8 * 8, image.batch, seed=image.seed),)
    )


# -- the protocol test node pack ------------------------------------------------------------

_PACK = "/opt/ComfyUI/custom_nodes/reality_test_nodes/__init__.py"


@behaviour("RealityProgress")
async def reality_progress(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    image = _image(i.get("image"))
    steps = _int(i.get("steps"), 10)
    delay = float(i.get("delay") or 0.0)
    preview = bool(i.get("preview", False))
    text = bool(i.get("progress_text", False))
    nonce = _int(i.get("nonce"), 0)
    for step in range(1, steps + 1):
        if delay > 0:
            await ctx.sleep(delay)
        frame = None
        if preview:
            frame = replace(
                image, pattern="gradient", seed=_seed_of(nonce, step), noise_level=1 - step / steps
            )
        await ctx.progress(step, steps, preview=frame)
        if text:
            await ctx.progress_text(f"step {step}/{steps}")
    return NodeResult((image, steps), ui={"text": [f"ran {steps} steps (nonce {nonce})"]})


@behaviour("RealityFail")
async def reality_fail(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    message = str(i.get("message", "RealityFail: deliberate failure for protocol recording"))
    raise _fail("RuntimeError", message, _PACK, 91, "run", "raise RuntimeError(message)")


@behaviour("RealityExpand")
async def reality_expand(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    # GraphBuilder ids: <node>.<call index>.<graph counter>.<node counter>
    progress_id = f"{ctx.node_id}.0.0.1"
    invert_id = f"{ctx.node_id}.0.0.2"
    graph = {
        progress_id: {
            "class_type": "RealityProgress",
            "inputs": {"image": i.get("image"), "steps": i.get("steps"), "delay": i.get("delay")},
        },
        invert_id: {"class_type": "ImageInvert", "inputs": {"image": [progress_id, 0]}},
    }
    return NodeResult(([invert_id, 0],), expand=graph)


@behaviour("RealityBlock")
async def reality_block(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
    return NodeResult((ExecutionBlocker(str(i.get("message", "blocked by RealityBlock"))),))


# -- everything else ------------------------------------------------------------------------


def _placeholder(kind: str, inputs: dict[str, Any], class_type: str) -> Any:
    if kind in ("IMAGE", "MASK"):
        return next(
            (v for v in inputs.values() if isinstance(v, ImageValue)),
            ImageValue(512, 512, pattern="gradient"),
        )
    if kind == "LATENT":
        return next((v for v in inputs.values() if isinstance(v, LatentValue)), LatentValue(512, 512))
    if kind == "INT":
        return 0
    if kind == "FLOAT":
        return 0.0
    if kind == "STRING":
        return ""
    if kind == "BOOLEAN":
        return False
    if isinstance(kind, str):
        same = next((v for v in inputs.values() if isinstance(v, Handle) and v.kind == kind), None)
        if same is not None:
            return same
    return Handle(str(kind), class_type)


def make_generic(class_type: str, catalogue: NodeCatalogue) -> _Behaviour:
    async def generic(ctx: NodeContext, i: dict[str, Any]) -> NodeResult:
        await ctx.sleep(0.02)
        return NodeResult(tuple(_placeholder(t, i, class_type) for t in catalogue.return_types(class_type)))

    return generic


def behaviour_lookup(catalogue: NodeCatalogue) -> Callable[[str], NodeBehaviour]:
    generic_cache: dict[str, _Behaviour] = {}

    def lookup(class_type: str) -> NodeBehaviour:
        fn = _REGISTRY.get(class_type)
        if fn is not None:
            return fn
        fn = generic_cache.get(class_type)
        if fn is None:
            fn = generic_cache[class_type] = make_generic(class_type, catalogue)
        return fn

    return lookup
