"""The Training Lab's run form: every TrainConfig field a user sets, each widget with the config's own default
and help (one copy of them: :class:`vizcore.train.config.TrainConfig`), and a way to put a stored config back
into the form (a comparison in flight, shown again as it was queued after a reload or in a second tab).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from pages._common import AUGMENT_PIPELINE_KEY, data_folder_picker, keep, put_back, user_errors
from vizcore.data import datasets as vdata
from vizcore.models import registry as zoo
from vizcore.train import config as train_config
from vizcore.train.config import TrainConfig

DEFAULT = TrainConfig()  # the default run is the fast recipe (TrainConfig's defaults)
DOCS = train_config.field_docs()
BATCH_SIZES = [16, 32, 64, 128, 256, 512]
IMAGE_SIZES = [16, 24, 32, 48, 64, 96, 128]
OTHER_IMAGES_KEY = "lab_data_seed_per_run"  # data_seed None: every run seed draws other images
USE_PIPELINE_KEY = "lab_use_pipeline"  # the switch that puts the Augmentation Lab's pipeline in the preset's place

# TrainConfig field -> the widget's key: restore() writes a config through it
FORM_KEYS: dict[str, str] = {
    "model": "lab_model", "dataset": "lab_dataset", "epochs": "lab_epochs", "batch_size": "lab_batch",
    "train_size": "lab_train_size", "val_size": "lab_val_size", "image_size": "lab_image_size", "seed": "lab_seed",
    "data_seed": "lab_data_seed", "optimizer": "lab_optimizer", "lr": "lab_lr", "momentum": "lab_momentum",
    "weight_decay": "lab_wd", "linear_scaling": "lab_linear_scaling", "warmup_epochs": "lab_warmup",
    "precision": "lab_precision", "zero_gamma": "lab_zero_gamma", "no_bias_decay": "lab_no_bias_decay",
    "whiten_stem": "lab_whiten_stem", "tta_flip": "lab_tta_flip", "channels_last": "lab_channels_last",
    "schedule": "lab_schedule", "step_size": "lab_step_size", "gamma": "lab_gamma", "label_smoothing": "lab_ls",
    "mixup_alpha": "lab_mixup", "cutmix_alpha": "lab_cutmix", "mix_prob": "lab_mix_prob", "augment": "lab_augment",
    "randaugment_n": "lab_ra_n", "randaugment_m": "lab_ra_m", "distill_T": "lab_T", "distill_alpha": "lab_alpha",
    "transfer": "lab_transfer", "backbone_lr_mult": "lab_backbone_mult", "time_budget_s": "lab_time_budget",
    "keep_epochs": "lab_keep_epochs", "adv_train": "lab_adv_train", "adv_eps": "lab_adv_eps",
    "adv_steps": "lab_adv_steps", "adv_warmup_epochs": "lab_adv_warmup", "robust_eval": "lab_robust_eval",
}
# what the form keeps when the user visits another page and comes back (a teacher or transfer source is chosen
# again: it may have been deleted since)
KEPT_KEYS = (*FORM_KEYS.values(), OTHER_IMAGES_KEY, USE_PIPELINE_KEY)
_INTS = {"epochs", "batch_size", "train_size", "val_size", "image_size", "seed", "data_seed", "randaugment_n",
         "randaugment_m", "time_budget_s", "keep_epochs", "adv_steps", "robust_eval"}


def models() -> list[str]:
    """The zoo's models, the small ones first (the default first of all)."""
    names = zoo.list_models()
    small = sorted((n for n in names if "small" in zoo.get_entry(n).tags), key=lambda n: n != DEFAULT.model)
    return small + [n for n in names if n not in small]


def restore(config: TrainConfig) -> None:
    """Put ``config`` into the form; call before the form is drawn in this script run. A distillation teacher
    or transfer source is left for the user to choose again (it may have been deleted since)."""
    for field in FORM_KEYS:
        _put(field, getattr(config, field))


def _put(field: str, value: Any) -> None:
    """One field's value into its widget's state, in the widget's own type (int for whole-number boxes)."""
    if field == "data_seed":
        st.session_state[OTHER_IMAGES_KEY] = value is None
        value = 0 if value is None else value
    if field == "adv_eps":  # the slider counts steps of 1/255
        st.session_state[FORM_KEYS[field]] = int(round(float(value) * 255))
        return
    st.session_state[FORM_KEYS[field]] = (int(value) if field in _INTS
                                          else float(value) if isinstance(value, float) else value)


def _h(field: str) -> str:
    return DOCS[field]


def config_form(finished: dict[str, str]) -> TrainConfig | None:
    """Draw the form; the config it describes (None, with the reason shown, when it cannot run).
    ``finished``: run id -> label of the finished runs with weights (teachers, transfer sources)."""
    put_back("lab_form", KEPT_KEYS)  # as the form was when this session last drew it, on this or another visit
    _fill_defaults()
    run = _run_section()
    st.caption("Tricks, grouped as the paper groups them (§3 efficient training, §4 model tweaks, §5 training "
               "refinements), plus data augmentation, knowledge distillation and transfer learning.")
    tabs = st.tabs(["Optimizer", "Efficient training", "Model tweaks", "Training refinements", "Data augmentation",
                    "Knowledge distillation", "Transfer learning", "Robustness"])
    v: dict[str, Any] = {}  # fields passed on as they are (numbers as floats)
    with tabs[0]:
        v.update(_optimizer_tab())
    with tabs[1]:
        v.update(_efficient_training_tab(run["epochs"]))
    with tabs[2]:
        _model_tweaks_tab()
    with tabs[3]:
        v.update(_refinements_tab())
    with tabs[4]:
        augment, aug_pipeline = _augmentation_tab(v)
    with tabs[5]:
        teacher = _distillation_tab(v, finished)
    with tabs[6]:
        transfer, transfer_from = _transfer_tab(v, finished)
    with tabs[7]:
        v.update(_robustness_tab())
    time_budget, keep_epochs = _sidebar_limits()
    keep("lab_form", KEPT_KEYS)
    with user_errors("This configuration cannot run: "):
        return TrainConfig(
            model=run["model"], dataset=run["dataset"], train_size=int(run["train_size"]),
            val_size=int(run["val_size"]), image_size=int(run["image_size"]), epochs=int(run["epochs"]),
            batch_size=int(run["batch_size"]), seed=int(run["seed"]),
            data_seed=None if run["per_run"] else int(run["data_seed"]), augment=augment, augment_pipeline=aug_pipeline,
            randaugment_n=int(v.pop("randaugment_n")), randaugment_m=int(v.pop("randaugment_m")),
            adv_steps=int(v.pop("adv_steps")), robust_eval=int(v.pop("robust_eval")),
            distill_teacher=teacher, transfer=transfer,
            transfer_from=transfer_from if transfer != "none" else None, time_budget_s=float(time_budget),
            data_root=run["data_root"], keep_epochs=int(keep_epochs),
            **{k: float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x for k, x in v.items()})
    return None


def _fill_defaults() -> None:
    """First draw in this session: every widget starts at TrainConfig's default."""
    for field, key in FORM_KEYS.items():
        if key not in st.session_state:
            _put(field, getattr(DEFAULT, field))
    st.session_state.setdefault(OTHER_IMAGES_KEY, DEFAULT.data_seed is None)


def _run_section() -> dict[str, Any]:
    """Model, data set, epochs, batch, sizes, seeds (and the data folder when the set needs one), as drawn."""
    c1, c2, c3, c4 = st.columns(4)
    model_name = c1.selectbox("Model", models(), key="lab_model", format_func=lambda n: zoo.get_entry(n).title,
                              help=_h("model"))
    dataset = c2.selectbox("Data set", [x for x in vdata.list_datasets() if x != "shapes_cue_conflict"],
                           key="lab_dataset", help=_h("dataset"), format_func=lambda x: vdata.DATASETS[x].title + (
                               "" if vdata.DATASETS[x].offline else " (download)"))
    epochs = c3.number_input("Epochs", 1, train_config.MAX_EPOCHS, key="lab_epochs", help=_h("epochs"))
    batch_size = c4.select_slider("Batch size", BATCH_SIZES, key="lab_batch", help=_h("batch_size"))
    c1, c2, c3, c4, c5 = st.columns(5)
    train_size = c1.number_input("Training images", 32, train_config.MAX_TRAIN_SIZE, step=500,
                                 key="lab_train_size", help=_h("train_size"))
    val_size = c2.number_input("Validation images", 16, train_config.MAX_VAL_SIZE, step=100,
                               key="lab_val_size", help=_h("val_size"))
    image_size = c3.select_slider("Image size (px)", IMAGE_SIZES, key="lab_image_size",
                                  help=_h("image_size"))
    seed = c4.number_input("Seed", 0, 2**31 - 1, key="lab_seed", help=_h("seed"))
    per_run = c5.toggle("New images per seed", key=OTHER_IMAGES_KEY, help=_h("data_seed"))
    data_seed = c5.number_input("Data set seed", 0, 2**31 - 1, key="lab_data_seed", disabled=per_run,
                                help=_h("data_seed"))
    entry = zoo.get_entry(model_name)
    if "scaled" in entry.tags and entry.input_size[1] != image_size:
        st.caption(f"{entry.title} is scaled for {entry.input_size[1]} px inputs; the Model tweaks & scaling "
                   "page trains each member of the family at its own resolution.")
    data_root = None
    if dataset == "folder" or not vdata.DATASETS[dataset].offline:
        data_root = data_folder_picker(st, "lab_data_folder", downloads=dataset != "folder")
    return {"model": model_name, "dataset": dataset, "epochs": epochs, "batch_size": batch_size,
            "train_size": train_size, "val_size": val_size, "image_size": image_size, "seed": seed,
            "per_run": per_run, "data_seed": data_seed, "data_root": data_root}


def _optimizer_tab() -> dict[str, Any]:
    c1, c2, c3, c4 = st.columns(4)
    return {
        "optimizer": c1.selectbox("Optimizer", train_config.OPTIMIZERS, key="lab_optimizer", help=_h("optimizer")),
        "lr": c2.number_input("Base learning rate", 1e-5, train_config.MAX_LR, format="%.4f", key="lab_lr",
                              help=_h("lr")),
        "momentum": c3.number_input("Momentum", 0.0, 0.999, key="lab_momentum", help=_h("momentum")),
        "weight_decay": c4.number_input("Weight decay", 0.0, 1.0, format="%.5f", key="lab_wd",
                                        help=_h("weight_decay")),
    }


def _efficient_training_tab(epochs: int) -> dict[str, Any]:
    """The paper's §3 tricks (and airbench's whitened stem, flip TTA, channels_last)."""
    v: dict[str, Any] = {}
    c1, c2, c3 = st.columns(3)
    v["linear_scaling"] = c1.toggle("Linear LR scaling (lr × batch / 256)", key="lab_linear_scaling",
                                    help=_h("linear_scaling"))
    if st.session_state["lab_warmup"] > float(epochs):  # fewer epochs than the warmup asked: all of them
        st.session_state["lab_warmup"] = float(epochs)
    v["warmup_epochs"] = c2.slider("LR warmup (epochs)", 0.0, float(epochs), step=0.5, key="lab_warmup",
                                   help=_h("warmup_epochs"))
    v["precision"] = c3.selectbox("Precision", train_config.PRECISIONS, key="lab_precision",
                                  help=_h("precision"))
    c1, c2, c3 = st.columns(3)
    v["zero_gamma"] = c1.toggle("Zero γ (last BN of each residual block)", key="lab_zero_gamma",
                                help=_h("zero_gamma"))
    v["no_bias_decay"] = c2.toggle("No bias decay (biases and BN out of weight decay)",
                                   key="lab_no_bias_decay", help=_h("no_bias_decay"))
    v["whiten_stem"] = c3.toggle("Whitened, frozen stem (airbench)", key="lab_whiten_stem",
                                 help=_h("whiten_stem"))
    c1, c2 = st.columns(2)
    v["tta_flip"] = c1.toggle("Flip test-time augmentation", key="lab_tta_flip", help=_h("tta_flip"))
    v["channels_last"] = c2.toggle("channels_last memory format", key="lab_channels_last",
                                   help=_h("channels_last"))
    return v


def _model_tweaks_tab() -> None:
    st.markdown("The paper's ResNet-B/C/D tweaks change the stem and downsampling of ResNet-50. Here the model "
                "itself is the tweak: compare **Small CNN** (plain) with **Small SE-ResNet** (residual + "
                "squeeze-and-excitation) by running both with the same seeds.")


def _refinements_tab() -> dict[str, Any]:
    """The paper's §5: LR schedule, label smoothing, mixup and CutMix."""
    v: dict[str, Any] = {}
    c1, c2, c3 = st.columns(3)
    v["schedule"] = c1.selectbox("LR schedule", train_config.SCHEDULES, key="lab_schedule", help=_h("schedule"))
    v["step_size"] = c2.number_input("Step decay every (epochs)", 0.5, float(train_config.MAX_EPOCHS),
                                     step=0.5, key="lab_step_size", disabled=v["schedule"] != "step",
                                     help=_h("step_size"))
    v["gamma"] = c3.number_input("Step decay factor γ", 0.01, 1.0, key="lab_gamma",
                                 disabled=v["schedule"] != "step", help=_h("gamma"))
    c1, c2, c3, c4 = st.columns(4)
    v["label_smoothing"] = c1.slider("Label smoothing ε", 0.0, 0.5, step=0.05, key="lab_ls",
                                     help=_h("label_smoothing"))
    v["mixup_alpha"] = c2.slider("Mixup α (0 = off)", 0.0, 2.0, step=0.1, key="lab_mixup",
                                 help=_h("mixup_alpha"))
    v["cutmix_alpha"] = c3.slider("CutMix α (0 = off)", 0.0, 2.0, step=0.1, key="lab_cutmix",
                                  help=_h("cutmix_alpha"))
    v["mix_prob"] = c4.slider("Mix probability", 0.0, 1.0, step=0.1, key="lab_mix_prob",
                              help=_h("mix_prob"))
    return v


def _robustness_tab() -> dict[str, Any]:
    """Adversarial training (Madry et al. 2018; Wong, Rice & Kolter 2020) and the PGD accuracy logged each epoch."""
    c1, c2, c3, c4, c5 = st.columns(5)
    adv = c1.selectbox("Adversarial training", train_config.ADV_TRAINS, key="lab_adv_train", help=_h("adv_train"))
    eps255 = c2.slider("ε (steps of 1/255)", 1, 32, key="lab_adv_eps", help=_h("adv_eps"))
    steps = c3.number_input("PGD steps", 1, train_config.MAX_ADV_STEPS, key="lab_adv_steps",
                            disabled=adv != "pgd", help=_h("adv_steps"))
    warm = c4.number_input("ε warmup (epochs)", 0.0, float(train_config.MAX_EPOCHS), step=0.5, key="lab_adv_warmup",
                           disabled=adv == "none", help=_h("adv_warmup_epochs"))
    robust_eval = c5.number_input("Images attacked each epoch", 0, 2000, step=64, key="lab_robust_eval",
                                  help=_h("robust_eval"))
    st.caption("The run trains on each batch's worst case inside the ε ball and reports its accuracy under PGD-10 "
               "after every epoch; if that accuracy collapses while clean accuracy holds, the run says "
               "\"catastrophic overfitting\". See the Adversarial examples page for what the attacks do.")
    return {"adv_train": adv, "adv_eps": eps255 / 255, "adv_steps": int(steps), "adv_warmup_epochs": float(warm),
            "robust_eval": int(robust_eval)}


def _augmentation_tab(v: dict[str, Any]) -> tuple[str, str | None]:
    """(preset, pipeline JSON or None); RandAugment's N and M go into ``v``. A pipeline sent by the Augmentation
    Lab replaces the preset while its toggle is on."""
    c1, c2, c3 = st.columns(3)
    augment = c1.selectbox("Augmentation preset", train_config.AUGMENTS, key="lab_augment", help=_h("augment") + " (torchvision.transforms.v2; RandAugment: "
                           "Cubuk et al., 2020; TrivialAugmentWide: Müller & Hutter, 2021)")
    v["randaugment_n"] = c2.number_input("RandAugment N", 1, 10, key="lab_ra_n",
                                         disabled=augment != "randaugment", help=_h("randaugment_n"))
    v["randaugment_m"] = c3.number_input("RandAugment M", 0, 30, key="lab_ra_m",
                                         disabled=augment != "randaugment", help=_h("randaugment_m"))
    aug_pipeline = st.session_state.get(AUGMENT_PIPELINE_KEY)  # sent by the Augmentation Lab
    if aug_pipeline:
        st.session_state.setdefault(USE_PIPELINE_KEY, True)
    if aug_pipeline and st.toggle("Use the pipeline from the Augmentation Lab (replaces the preset)",
                                  key=USE_PIPELINE_KEY):
        with user_errors("The pipeline from the Augmentation Lab is not valid: "):
            from vizcore.data.pipeline import Pipeline

            st.caption("Pipeline: " + " → ".join(s.label() for s in Pipeline.from_json(aug_pipeline).steps))
        augment = "none"
    else:
        aug_pipeline = None
    return augment, aug_pipeline


def _distillation_tab(v: dict[str, Any], finished: dict[str, str]) -> str | None:
    """The teacher's run id or None; temperature and weight go into ``v``."""
    c1, c2, c3 = st.columns(3)
    teacher = c1.selectbox("Teacher (a finished run)", [None, *finished], key="lab_teacher",
                           help=_h("distill_teacher"),
                           format_func=lambda i: "none (no distillation)" if i is None else finished[i])
    v["distill_T"] = c2.slider("Temperature T", 1.0, 20.0, step=0.5, key="lab_T",
                               disabled=teacher is None, help=_h("distill_T"))
    v["distill_alpha"] = c3.slider("Distillation weight α", 0.0, 1.0, step=0.05, key="lab_alpha",
                                   disabled=teacher is None, help=_h("distill_alpha"))
    if not finished:
        st.caption("Finish a run first: any finished run can be the teacher (Hinton et al., 2015).")
    return teacher


def _transfer_tab(v: dict[str, Any], finished: dict[str, str]) -> tuple[str, str]:
    """(transfer mode, source: "pretrained" or a run id); the backbone LR multiplier goes into ``v``."""
    c1, c2, c3 = st.columns(3)
    transfer = c1.selectbox("Transfer", train_config.TRANSFERS, key="lab_transfer", help=_h("transfer"))
    transfer_from = c2.selectbox("From", ["pretrained", *finished], key="lab_transfer_from",
                                 disabled=transfer == "none", help=_h("transfer_from"),
                                 format_func=lambda i: "ImageNet weights (if cached)" if i == "pretrained"
                                 else finished[i])
    v["backbone_lr_mult"] = c3.number_input("Backbone LR multiplier", 0.001, 1.0,
                                            key="lab_backbone_mult", disabled=transfer != "finetune_lower_lr",
                                            help=_h("backbone_lr_mult"))
    return transfer, transfer_from


def _sidebar_limits() -> tuple[int, int]:
    """(time budget per run in s, epochs whose weights are kept), set in the sidebar."""
    time_budget = st.sidebar.number_input("Time budget per run (s)", 10, 24 * 3600,
                                          key="lab_time_budget", help=_h("time_budget_s"))
    keep_epochs = st.sidebar.number_input("Keep weights of the last E epochs (0 = off)", 0, train_config.MAX_EPOCHS,
                                          key="lab_keep_epochs", help=_h("keep_epochs"))
    return time_budget, keep_epochs
