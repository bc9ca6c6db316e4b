"""Arabic as annotators see it: headless Chromium opens a pushed task in the real Label Studio and
checks that the article is laid out right-to-left and the predicted spans are highlighted over
the right words. The screenshot is kept in test-artifacts/."""
import shutil

import pytest
from conftest import ARTIFACTS, make_settings
from sqlalchemy import select

from workbench import workflow
from workbench.db import session_scope
from workbench.models import LabelStudioTask, PreAnnotation

pytestmark = pytest.mark.label_studio


def login(driver, label_studio):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(f"{label_studio['url']}/user/login/")
    WebDriverWait(driver, 60).until(EC.presence_of_element_located((By.NAME, "email")))
    driver.find_element(By.NAME, "email").send_keys(label_studio["username"])
    driver.find_element(By.NAME, "password").send_keys(label_studio["password"])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
    WebDriverWait(driver, 60).until(lambda d: "/user/login" not in d.current_url)


HIGHLIGHTS_JS = """
return Array.from(document.querySelectorAll('.htx-highlight')).map(e => {
  const r = e.getBoundingClientRect();
  return {text: e.textContent, left: r.left, right: r.right, top: Math.round(r.top),
          boxes: e.getClientRects().length};
});"""


def test_task_is_right_to_left_with_predictions_over_the_right_words(browser, label_studio, tmp_path, sample_corpus):
    from selenium.webdriver.support.ui import WebDriverWait
    settings = make_settings(tmp_path, label_studio_url=label_studio["url"],
                             label_studio_token=label_studio["token"], project_title="browser check")
    workflow.ingest_paths(settings, [sample_corpus])
    workflow.preannotate(settings)
    report = workflow.push(settings)
    with session_scope(settings) as session:
        task = session.scalars(select(LabelStudioTask).order_by(LabelStudioTask.id)).all()[1]
        task_id = task.ls_task_id
        pre = session.scalars(select(PreAnnotation).where(PreAnnotation.revision_id == task.revision_id)).one()
        spans = pre.entities

    login(browser, label_studio)
    browser.get(f"{label_studio['url']}/projects/{report.project_id}/data?task={task_id}")
    WebDriverWait(browser, 120).until(lambda d: len(d.execute_script(HIGHLIGHTS_JS)) >= len(spans))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "label-studio-rtl-task.png"
    browser.save_screenshot(str(shot))

    direction = browser.execute_script(
        "return getComputedStyle(document.querySelector('.lsf-richtext__container')).direction")
    assert direction == "rtl"
    highlights = browser.execute_script(HIGHLIGHTS_JS)
    assert [h["text"] for h in highlights] == [s["text"] for s in sorted(spans, key=lambda s: s["start"])]
    one_box = [h for h in highlights if h["boxes"] == 1]  # a span wrapped over two lines has two boxes
    same_line = [(a, b) for a, b in zip(one_box, one_box[1:]) if a["top"] == b["top"]]
    assert same_line, "expected two highlighted words on one line"
    misplaced = [(a, b) for a, b in same_line if not a["left"] > b["right"] - 1]
    assert not misplaced, f"earlier words must sit to the right of later ones: {misplaced}"
    assert shot.stat().st_size > 20_000
    shutil.copy(shot, tmp_path / shot.name)
