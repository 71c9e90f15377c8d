// "New pipeline" on the task board (templates/_pipeline_dialog.html): steps typed into a small
// form, or the JSON body of POST /api/v1/pipelines pasted as is. The hub validates; its errors
// are listed as sentences, naming the step ("Step 2") rather than the JSON path ("tasks.1").
// On success the browser goes to the new pipeline's graph.
"use strict";

(() => {
  const dialog = document.getElementById("pipeline-dialog");
  if (!dialog) return;
  const projectId = dialog.dataset.projectId;
  const $ = (id) => document.getElementById(id);
  const form = $("pipeline-form");
  const steps = $("pipeline-steps");
  const errors = $("pipeline-errors");
  let mode = "form";

  function showErrors(lines) {
    errors.replaceChildren(
      ...lines.map((text) => {
        const li = document.createElement("li");
        li.textContent = text;
        return li;
      }),
    );
    errors.hidden = lines.length === 0;
  }

  // "Title in tasks.1 must not be empty." → "Step 2: title must not be empty." (form mode), and
  // the hub's "tasks[1].depends_on: …" likewise; pasted JSON keeps its own paths.
  function stepWise(text) {
    const nested = text.match(/^(.*) in tasks\.(\d+)(.*)$/);
    if (nested) {
      const field = nested[1].toLowerCase().replace("depends on", "waits for");
      return `Step ${Number(nested[2]) + 1}: ${field}${nested[3]}`;
    }
    return text.replace(/^tasks\[(\d+)\](\.\w+)?: /, (_m, i) => `Step ${Number(i) + 1}: `);
  }

  function renumber() {
    steps.querySelectorAll("[data-step]").forEach((step, i) => {
      step.querySelector("[data-step-number]").textContent = `Step ${i + 1}`;
      step.querySelector("[data-remove-step]").hidden = steps.children.length === 1;
    });
  }

  function addStep() {
    const step = $("pipeline-step-template").content.firstElementChild.cloneNode(true);
    step.querySelector("[data-remove-step]").addEventListener("click", () => {
      step.remove();
      renumber();
    });
    steps.append(step);
    renumber();
    return step;
  }

  function setMode(next) {
    mode = next;
    $("pipeline-mode-form").setAttribute("aria-pressed", String(next === "form"));
    $("pipeline-mode-json").setAttribute("aria-pressed", String(next === "json"));
    $("pipeline-form-mode").hidden = next !== "form";
    $("pipeline-json-mode").hidden = next !== "json";
    showErrors([]);
  }

  function open() {
    form.reset();
    steps.replaceChildren();
    addStep();
    addStep();
    setMode("form");
    dialog.showModal();
    $("pipeline-name").focus();
  }

  // The form's steps as a pipeline body, or the sentences saying why they are not one yet.
  function fromSteps() {
    const all = [...steps.querySelectorAll("[data-step]")];
    const problems = [];
    const tasks = all.map((step, i) => {
      const value = (field) => step.querySelector(`[data-field="${field}"]`).value.trim();
      const depends = value("depends_on").split(/[\s,]+/).filter(Boolean);
      for (const ref of depends) {
        const n = Number(ref);
        if (!Number.isInteger(n) || n < 1 || n > all.length || n === i + 1) {
          problems.push(
            `Step ${i + 1}: "${ref}" is not another step's number (1 to ${all.length}, not its own).`,
          );
        }
      }
      return {
        id: `step-${i + 1}`,
        title: value("title"),
        spec: value("spec"),
        depends_on: depends.map((ref) => `step-${ref}`),
      };
    });
    const name = $("pipeline-name").value.trim();
    return { problems, body: { project_id: projectId, name: name || null, tasks } };
  }

  function fromJson() {
    const text = $("pipeline-json").value.trim();
    if (!text) return { problems: ["Paste the pipeline's JSON first."], body: null };
    let body;
    try {
      body = JSON.parse(text);
    } catch (err) {
      return { problems: [`The JSON does not parse: ${err.message}.`], body: null };
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return { problems: ['The JSON must be an object, like {"tasks": [...]}.'], body: null };
    }
    if (body.project_id && body.project_id !== projectId) {
      return { problems: ["The JSON names another project: leave project_id out here."], body: null };
    }
    return { problems: [], body: { ...body, project_id: projectId } };
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const { problems, body } = mode === "form" ? fromSteps() : fromJson();
    if (problems.length) return showErrors(problems);
    const submit = $("pipeline-submit");
    submit.disabled = true;
    try {
      const res = await postJson("/api/v1/pipelines", body);
      if (res.ok) {
        const created = await res.json();
        window.location.assign(`/pipelines/${created.pipeline_id}`);
        return;
      }
      const data = await res.json().catch(() => ({}));
      const lines = Array.isArray(data.detail)
        ? data.detail.map(validationText)
        : [apiErrorText(data, res.status)];
      showErrors(mode === "form" ? lines.map(stepWise) : lines);
    } finally {
      submit.disabled = false;
    }
  });

  $("pipeline-add-step").addEventListener("click", () => addStep().querySelector("input").focus());
  $("pipeline-mode-form").addEventListener("click", () => setMode("form"));
  $("pipeline-mode-json").addEventListener("click", () => setMode("json"));
  $("new-pipeline").addEventListener("click", open);
  if (window.location.hash === "#new-pipeline") open();
})();
