"""Training playground: press play, pause, step or reset, and watch a small CNN's filters, activations, confusion
matrix and loss change as it trains on the shapes, one mini-batch at a time."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import math
import time

import numpy as np
import streamlit as st
import torch

from pages._common import (
    bound,
    show_figure,
    user_errors,
    view_link,
)
from vizcore.figures import features as ffig
from vizcore.figures import playground as pfig
from vizcore.inspect.filters import rgb_filters
from vizcore.train import playground as pg

through_app()  # a fresh server's first deep links rerun through app.py's navigation

STATE, RUNNING, PLAYED = "pg_state", "pg_running", "pg_played_from"
TICK_S = 0.5  # a running playground redraws every half second
WORK_S = 0.25  # of which at most this long (and at least one step) is training: pause acts within a second
PLAY_STEPS = 3000  # one press of play trains at most this many steps, then pauses (no run left going in a lost tab)
WIDTHS, BATCHES = [4, 8, 16, 32], [8, 16, 32, 64, 128]
RATES = [0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.3, 1.0]

def settings() -> pg.PlaygroundConfig:
    """Width, batch, step size and seed: the playground's configuration."""
    c1, c2, c3, c4 = st.columns(4)
    bound("pg_width", 8, options=WIDTHS)
    bound("pg_batch", 32, options=BATCHES)
    bound("pg_lr", 0.05, options=RATES)
    bound("pg_seed", 0, lo=0, hi=9999)
    width = c1.select_slider("Width (first-stage channels)", WIDTHS, value=8, key="pg_width",
                             help="Channels of the first stage; the next stages have 2×, 4× and 4× as many.")
    batch = c2.select_slider("Batch (images per step)", BATCHES, value=32, key="pg_batch")
    lr = c3.select_slider("Step size (SGD, momentum 0.9)", RATES, value=0.05, key="pg_lr",
                          help="Takes effect at the next step, without a reset: try 1.0 and watch the loss.")
    seed = int(c4.number_input("Seed (weights, batch order)", 0, 9999, 0, key="pg_seed"))
    st.caption("Width, batch and seed start a new run; the step size changes the run that is going.")
    with user_errors():
        return pg.PlaygroundConfig(width=width, batch_size=batch, lr=lr, seed=seed)


def the_playground(cfg: pg.PlaygroundConfig) -> pg.Playground:
    """This browser session's playground: a new one when width, batch or seed changed; the step size is applied to
    the one going."""
    play: pg.Playground | None = st.session_state.get(STATE)
    if play is None or play.cfg.width != cfg.width or play.cfg.batch_size != cfg.batch_size \
            or play.cfg.seed != cfg.seed:
        st.session_state.pop(STATE, None)  # one playground per browser session: the old one goes first
        st.session_state[RUNNING] = False
        with st.spinner("Generating the shapes and building the model…"):
            play = pg.Playground(cfg)
        st.session_state[STATE] = play
    if play.lr != cfg.lr:
        play.set_lr(cfg.lr)
    return play


def _play() -> None:
    st.session_state[RUNNING] = True
    st.session_state[PLAYED] = st.session_state[STATE].steps


def _pause() -> None:
    st.session_state[RUNNING] = False


def _step() -> None:
    st.session_state[RUNNING] = False
    st.session_state[STATE].step(1)


def _reset() -> None:
    st.session_state[RUNNING] = False
    st.session_state[STATE].reset()


def controls() -> bool:
    """Play, pause, step and reset, and the status beside them; returns whether it is training."""
    running = bool(st.session_state.get(RUNNING, False))
    b1, b2, b3, b4, status = st.columns([1, 1, 1, 1, 4], vertical_alignment="center")
    b1.button("Play", icon=":material/play_arrow:", on_click=_play, disabled=running, key="pg_play", type="primary")
    b2.button("Pause", icon=":material/pause:", on_click=_pause, disabled=not running, key="pg_pause")
    b3.button("Step", icon=":material/skip_next:", on_click=_step, key="pg_step", help="exactly one mini-batch")
    b4.button("Reset", icon=":material/restart_alt:", on_click=_reset, key="pg_reset")
    status.caption(f"**{'Training' if running else 'Paused'}** · play trains up to {PLAY_STEPS:,} steps per press "
                   f"(about {TICK_S:g} s per redraw).")
    return running


def _live(play: pg.Playground) -> None:
    """One tick: a bounded amount of training when running, then every live view redrawn."""
    t0 = time.perf_counter()
    if st.session_state.get(RUNNING):
        play.run_for(WORK_S, max_steps=50)
        if play.steps - st.session_state.get(PLAYED, 0) >= PLAY_STEPS:
            st.session_state[RUNNING] = False
            st.rerun(scope="app")  # redraw the buttons as paused
    ev = play.evaluate()
    m = st.columns(5)
    m[0].metric("Steps", f"{play.steps:,}", help="optimizer steps, one mini-batch each")
    m[1].metric("Epochs", f"{play.epoch:.2f}", help=f"passes over the {play.cfg.train_size:,} training images")
    m[2].metric("Last batch loss", f"{play.losses[-1]:.3f}" if play.losses else "—")
    m[3].metric("Held-out accuracy", f"{100 * ev.accuracy:.1f}%",
                help=f"on {len(play.y_test)} images the model never trains on; chance 10%")
    ms = 1000 * float(np.median(play.step_seconds)) if play.step_seconds else float("nan")
    m[4].metric("Time per step", "—" if math.isnan(ms) else f"{ms:.0f} ms")
    show_figure(pfig.loss_curve_figure(play.losses, [(s, loss) for s, loss, _ in play.held_out],
                                       chance=math.log(len(play.classes)),
                                       title=f"Loss while it trains (step size {play.lr:g})"),
                key="pg_loss_chart")
    left, right = st.columns(2)
    with left:
        grid = rgb_filters(torch.from_numpy(play.first_filters()))
        show_figure(ffig.filters_figure(grid.images, grid.low, grid.high,
                                        [str(i) for i in range(len(grid.low))],
                                        "First-layer filters (3×3 RGB), live", cols=8), key="pg_filters")
        show_figure(pfig.confusion_figure(ev.confusion, play.classes,
                                          f"Confusion matrix on {len(play.y_test)} held-out images, "
                                          f"step {play.steps}"), key="pg_confusion")
    with right:
        layers = play.layers()
        label = st.selectbox("Layer", list(layers), index=1, key="pg_layer")
        image = st.slider("Held-out image", 0, len(play.y_test) - 1, 0, key="pg_image")
        probs = play.probabilities(image)
        top = int(np.argmax(probs))
        st.image(np.ascontiguousarray(play.x_test[image].permute(1, 2, 0).numpy()), width=96,
                 caption=f"true: {play.classes[int(play.y_test[image])]} · predicted: {play.classes[top]} "
                         f"({100 * probs[top]:.0f}%)")
        act = play.activations(layers[label], image)
        show_figure(pfig.maps_figure(act, f"{label}: {len(act)} maps of {act.shape[1]}×{act.shape[2]} for this "
                                          "image", cols=8 if len(act) <= 32 else 16), key="pg_acts")
    st.caption(f"This update took {1000 * (time.perf_counter() - t0):.0f} ms on the server (training and views; "
               "the browser draws after).")


st.title("Training playground")
st.caption("A small CNN (three conv-BN-ReLU stages) learns the ten embedded shape classes here, one mini-batch per "
           "step, while you watch. **Play** trains until you pause; **Step** runs exactly one batch; **Reset** "
           "goes back to the seed's random weights.")
pg_config = settings()
with user_errors():
    playground = the_playground(pg_config)
training = controls()
st.fragment(run_every=TICK_S if training else None)(_live)(playground)
view_link()
