"""The Training Lab's run manager: every stored run in one table (status, accuracy, where it ran), and one run
renamed, exported, deleted or opened in the inspection pages. Damaged records are named with a way out."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._common import CHECKPOINT_KEY, said, user_errors
from pages._nav import page_link
from vizcore.lab.records import RunRecord
from vizcore.lab.store import RunStore


def runs_section(store: RunStore, all_runs: list[RunRecord]) -> None:
    """Section 5 of the Training Lab: the stored runs and what can be done with one."""
    st.header("5 · Runs")
    for bad in store.damaged_runs():  # one unreadable record must not hide the others: say which, and offer a way out
        w1, w2 = st.columns([5, 1])
        w1.warning(f"Run {bad.name} (#{bad.id}) cannot be shown: its stored record is damaged ({bad.reason}). "
                   f"Delete it here, or export what is left with `python -m vizcore runs --export {bad.id}`.")
        if w2.button("Delete this record", key=f"lab_delete_damaged_{bad.id}"):
            with user_errors("Could not delete it: "):
                store.delete(bad.id)
            st.rerun()
    if not all_runs:
        st.info("Runs you start appear here: rename, delete, export, or open one in the other pages.")
    else:
        # fixed widths that add up to less than the page's width: every column shows whole ("cancelled", not
        # "cancell"), and the long ones (group, message) are cut with an ellipsis, their full text on hover
        st.dataframe(pd.DataFrame([{
            "name": r.name, "status": r.status, "val acc (%)": "—" if r.val_acc is None else f"{100 * r.val_acc:.1f}",
            "epochs": f"{r.epochs_done}/{r.config.epochs}", "model · data": f"{r.config.model} · {r.config.dataset}",
            "group": r.group or "", "message": r.message, "ran on": str(r.info.get("worker") or ""), "id": r.id}
            for r in all_runs]), hide_index=True, key="lab_runs_table", width="stretch", column_config={
                # together no wider than the page's main area at 1400 px (a column cut off at the right is unreadable)
                "name": st.column_config.TextColumn(width=150), "status": st.column_config.TextColumn(width=80),
                "val acc (%)": st.column_config.TextColumn(width=75), "epochs": st.column_config.TextColumn(width=55),
                "model · data": st.column_config.TextColumn(width=130), "group": st.column_config.TextColumn(width=100),
                "message": st.column_config.TextColumn(width=150), "ran on": st.column_config.TextColumn(width=90),
                "id": st.column_config.TextColumn(width=100)})
        by_id = {r.id: r for r in all_runs}
        rid = st.selectbox("Run", list(by_id), key="lab_manage_select",
                           format_func=lambda i: f"{by_id[i].name} · #{i}")
        rec = by_id[rid]
        c1, c2, c3, c4 = st.columns(4)
        new_name = c1.text_input("New name", rec.name, key=f"lab_rename_{rid}")
        if c1.button("Rename", key="lab_rename"):
            with said("Not renamed: "):
                store.rename(rid, new_name)
                st.rerun()
        if rec.config.augment_pipeline:
            with st.expander("Augmentation pipeline of this run"):
                from vizcore.data.pipeline import Pipeline

                st.markdown("\n".join(f"{k + 1}. {s.label()}" for k, s in
                                       enumerate(Pipeline.from_json(rec.config.augment_pipeline).steps)))
        # made when pressed, not on every rerun: a file made per rerun of this live page was replaced while the browser
        # still pointed at it ("Download Button source error - 404"), and the export read the store each time
        c2.download_button("Config (JSON)", lambda: store.export(rid)[0], f"run_{rid}_config.json", "application/json",
                           key="lab_dl_json")
        c2.download_button("Metrics (CSV)", lambda: store.export(rid)[1], f"run_{rid}_metrics.csv", "text/csv",
                           key="lab_dl_csv")
        confirm = c3.checkbox("Yes, delete it", key=f"lab_confirm_delete_{rid}")
        if c3.button("Delete run", disabled=not confirm, key="lab_delete"):
            with said("Not deleted: "):
                store.delete(rid)
                st.rerun()
        if rec.checkpoint and rec.status in ("done", "cancelled", "diverged") and rec.epochs_done:
            if c4.button("Open in other pages", key="lab_open"):
                st.session_state[CHECKPOINT_KEY] = rec.checkpoint
            if st.session_state.get(CHECKPOINT_KEY) == rec.checkpoint:
                c4.success("Selected for this browser session: the Receptive Field page now shows this run's model "
                           "with its trained weights (effective receptive field, feature maps).")
                page_link(c4, "pages/receptive_field.py", "Open the Receptive Field page", ":material/center_focus_strong:")
        else:
            c4.caption("No checkpoint to open: the run has not completed an epoch.")
