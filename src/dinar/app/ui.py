"""The page (Gradio Blocks): drop a photo → the people found → the fit overlay → the avatar's videos,
an interactive 3D view of its rigged GLB and the downloads.

Left: the inputs (photo and examples, the person list, an optional back photo, the motion, the
pipeline's switches under "advanced"). Right: what comes out, in the order the work makes it. Events
run through the queue with a concurrency limit of one each (``people`` and ``make_avatar``): the CPU
does one avatar at a time and extra requests wait, or are told the app is busy when the queue is full.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from dinar.app.handlers import MAX_DIFFUSION_STEPS, Handlers
from dinar.app.jobs import BUILTIN_CHOICES
from dinar.app.uploads import LIMITS_TEXT

TITLE = "dinar: one photo to an animatable avatar"
THEME_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
"""System fonts only: nothing is fetched to draw the page."""
CSS = """
.gradio-container { max-width: 1280px !important; }
#status { min-height: 2.5em; }
"""


def photo_input(**kwargs) -> gr.Image:
    """A ``gr.Image`` whose server side hands our code the uploaded file's path unopened: Gradio's own
    preprocessing would open it with PIL first, and fail with its own error before
    :func:`dinar.app.uploads.check_photo` could refuse the file with a message. (The hook is replaced on
    the instance: a subclass of a Gradio component makes Gradio write a ``.pyi`` beside its source.)"""
    component = gr.Image(type="filepath", sources=["upload"], **kwargs)

    def preprocess(payload):  # Gradio's hook: FileData -> what the event function receives
        return None if payload is None or payload.path is None else str(payload.path)

    component.preprocess = preprocess
    return component


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts (its default fonts are web fonts)."""
    return gr.themes.Default(font=THEME_FONTS, font_mono=["ui-monospace", "monospace"])


def example_photos() -> tuple[list[list[str]], list[str]]:
    """The bundled demo photo, and the real test photos when this is a source checkout (``tests/data``)."""
    from dinar.demo import PHOTO

    photos, labels = [[str(PHOTO)]], ["bundled demo photo (synthetic person)"]
    tests = Path(__file__).resolve().parents[3] / "tests" / "data"
    named = {"sports2d_walk_two_people.jpg": "two people: pick one", "sports2d_jumping_jack.jpg": "jumping jack",
             "pose2sim_lab_two_people.jpg": "two people in a lab", "loc_furnace_worker.jpg": "worker, one leg hidden",
             "cameraman_cc0.jpg": "cut off at the thighs: refused"}
    for name, label in named.items():
        if (tests / name).is_file():
            photos.append([str(tests / name)])
            labels.append(label)
    return photos, labels


def build_blocks(handlers: Handlers, delete_cache: tuple[int, int] | None = None) -> gr.Blocks:
    """The page, wired to ``handlers``."""
    with gr.Blocks(title="dinar: photo to avatar", analytics_enabled=False, delete_cache=delete_cache) as blocks:
        gr.Markdown(f"# {TITLE}\nDrop a photo of a person, head to feet. The app finds the people in it, fits a body to "
                    "the one you pick, and makes their avatar (DINAR): a turntable, a motion, a rigged GLB to turn around "
                    f"here or open in Blender, Unity or three.js. Limits: {LIMITS_TEXT}.", latex_delimiters=[])
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                photo = photo_input(label="Photo", height=300, elem_id="photo")
                examples, labels = example_photos()
                gr.Examples(examples=examples, inputs=[photo], example_labels=labels, label="Examples (click one)")
                person = gr.Dropdown(label="Person (numbered left to right)", choices=[], visible=False, elem_id="person")
                with gr.Accordion("Back photo and motion", open=False):
                    back = photo_input(label="Back photo of the same person (optional: multi-shot)", height=200, elem_id="back")
                    motion = gr.Radio(list(BUILTIN_CHOICES), value="walk", label="Motion")
                    motion_file = gr.File(label="or your own motion: BVH (CMU / Mixamo names) or AMASS .npz, first 8 s",
                                          file_types=[".bvh", ".npz"], type="filepath", elem_id="motion_file")
                with gr.Accordion("Advanced: the pipeline's switches (paper Table 2)", open=False):
                    occlusion = gr.Checkbox(True, label="occlusion detector (3.5)")
                    rgb_tuning = gr.Checkbox(True, label="RGB tuning (appendix B)")
                    inpainting = gr.Checkbox(True, label="inpainting of the unseen side (3.3)")
                    color_adjust = gr.Checkbox(True, label="colour adjustment (eq. 7)")
                    tuning_loss = gr.Radio(["l2", "paper"], value="l2",
                                           label="RGB tuning loss (l2: best on real photos; paper: L2 + LPIPS + adversarial)")
                    diffusion_steps = gr.Slider(1, MAX_DIFFUSION_STEPS, value=25, step=1, label="diffusion (DDIM) steps")
                    seed = gr.Number(0, label="seed", precision=0, minimum=0, maximum=2**32 - 1)
                make = gr.Button("Make avatar", variant="primary", elem_id="make")
                status = gr.Markdown("", elem_id="status", latex_delimiters=[])
                downloads = gr.File(label="Downloads: .avatar, .glb, .mp4", file_count="multiple", interactive=False, height=280,
                                    elem_id="downloads")
            with gr.Column(scale=3, min_width=420):
                with gr.Row():
                    people = gr.Image(label="People found", interactive=False, height=280, scale=2, elem_id="people")
                    overlay = gr.Image(label="Fit: detections | fitted body | side view", interactive=False, height=280,
                                       scale=3, elem_id="overlay")
                with gr.Row():
                    turntable = gr.Video(label="Turntable", interactive=False, autoplay=True, loop=True, height=300, elem_id="turntable")
                    motion_video = gr.Video(label="Motion", interactive=False, autoplay=True, loop=True, height=300, elem_id="motion_video")
                model3d = gr.Model3D(label="Rigged GLB: drag to turn, scroll to zoom", height=400, elem_id="model3d",
                                     clear_color=(0.95, 0.95, 0.95, 1.0), interactive=False)

        photo.change(handlers.on_photo, inputs=[photo], outputs=[people, person, status], api_name="people",
                     concurrency_limit=1, concurrency_id="people")

        def make_avatar(photo, person, back, motion, motion_file, occlusion, rgb_tuning, inpainting, color_adjust,
                        tuning_loss, diffusion_steps, seed, progress=gr.Progress()):  # noqa: B008 (Gradio's way to ask for progress)
            return handlers.on_make(photo, person, back, motion, motion_file, occlusion, rgb_tuning, inpainting, color_adjust,
                                    tuning_loss, diffusion_steps, seed, progress=progress)

        make.click(make_avatar,
                   inputs=[photo, person, back, motion, motion_file, occlusion, rgb_tuning, inpainting, color_adjust,
                           tuning_loss, diffusion_steps, seed],
                   outputs=[overlay, turntable, motion_video, model3d, downloads, status],
                   api_name="make_avatar", concurrency_limit=1, concurrency_id="avatar")
    return blocks
