/* EHR widget, progressive enhancement. Without JavaScript the form is a plain GET and the server renders the
   page. With it, the form posts the profile to /v1/answer and rebuilds the warnings, the answer and the plot in
   place, with the same structure and words as templates/widget/page.html.j2. The DOM is built with
   createElement and textContent only, never from HTML strings, so no answer or input text can become markup.
   Number formats mirror the filters in plugin/render.py (decimal arithmetic on the shortest repr, half up). */
(function () {
  "use strict";

  const form = document.getElementById("profile-form");
  const labelsNode = document.getElementById("widget-labels");
  if (!form || !labelsNode || !window.fetch || !window.DOMParser) {
    return;
  }
  const labels = JSON.parse(labelsNode.textContent);
  const WARNING_CODE = "nonrandomized_evidence";
  const ANALYSIS_PREFIX = "habets-2022-ivig-rpl#";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child);
      }
    }
    return node;
  }

  /* Decimal digits of a float as its shortest repr gives them: value = sign * digits * 10^exponent. */
  function decimalParts(value) {
    const text = String(Math.abs(value));
    const [mantissa, exp] = text.split("e");
    const [whole, fraction = ""] = mantissa.split(".");
    const digits = (whole + fraction).replace(/^0+(?=\d)/, "");
    return { negative: value < 0, digits: digits, exponent: Number(exp || 0) - fraction.length };
  }

  /* value * 10^shift rounded half up (away from zero) to an integer string, as Decimal.quantize(ROUND_HALF_UP). */
  function roundHalfUp(value, shift) {
    const parts = decimalParts(value);
    const exponent = parts.exponent + shift;
    let integer;
    if (exponent >= 0) {
      integer = BigInt(parts.digits + "0".repeat(exponent));
    } else {
      const padded = parts.digits.padStart(-exponent + 1, "0");
      const cut = padded.length + exponent;
      integer = BigInt(padded.slice(0, cut)) + (padded[cut] >= "5" ? 1n : 0n);
    }
    return { negative: parts.negative && integer !== 0n, integer: integer };
  }

  const fmt = {
    ratio: (value) => value.toFixed(2),
    ci: (e) => fmt.ratio(e.ci_low) + " to " + fmt.ratio(e.ci_high),
    p: (e) => ("<>=≤".includes(e.p_value_text.charAt(0)) ? "P " : "P = ") + e.p_value_text,
    size: (e) => {
      if (e.n_studies === null && e.n_participants === null) {
        return "not reported";
      }
      const parts = [];
      if (e.n_studies !== null) {
        parts.push(e.n_studies + " studies");
      }
      if (e.n_participants !== null) {
        parts.push(e.n_participants + " women");
      }
      return parts.join(", ");
    },
    per1000: (p) => roundHalfUp(p, 3).integer.toString(),
    signedPer1000: (value) => {
      const rounded = roundHalfUp(value, 0);
      if (rounded.integer === 0n) {
        return "no difference";
      }
      return rounded.integer.toString() + (rounded.negative ? " fewer" : " more");
    },
    percent: (p) => {
      const parts = decimalParts(p);
      const exponent = parts.exponent + 2;
      let text;
      if (exponent >= 0) {
        text = parts.digits + "0".repeat(exponent);
      } else {
        const padded = parts.digits.padStart(-exponent + 1, "0");
        text = (padded.slice(0, padded.length + exponent) + "." + padded.slice(exponent)).replace(/\.?0+$/, "");
      }
      return (parts.negative ? "-" : "") + text + "%";
    },
  };

  function fieldLabel(name) {
    return labels.fields[name] || "Unknown parameter";
  }

  function warningsView(answer) {
    const nonrandomized = answer.warnings.find((w) => w.code === WARNING_CODE);
    const nodes = [
      el(
        "div",
        { class: "warning-banner", role: "note", "aria-labelledby": "warning-title", "data-code": WARNING_CODE },
        el("p", { class: "warning-title", id: "warning-title" },
          el("span", { class: "warning-icon", "aria-hidden": "true" }, "⚠"), " Non-randomized evidence"),
        el("p", { class: "warning-text" }, nonrandomized.text),
      ),
    ];
    for (const w of answer.warnings.filter((w) => w.code !== WARNING_CODE)) {
      nodes.push(el("p", { class: "warning-extra", "data-code": w.code }, w.text));
    }
    return nodes;
  }

  function fact(term, ...description) {
    return el("div", {}, el("dt", {}, term), el("dd", {}, ...description));
  }

  function estimateView(e) {
    const level = fmt.percent(e.ci_level);
    const item = el(
      "li",
      { class: "estimate", "data-estimate": e.id },
      el("h3", {}, e.label),
      el("p", { class: "rr" }, el("strong", {}, "RR " + fmt.ratio(e.rr)), " (" + level + " CI " + fmt.ci(e) + "), ",
        el("span", { class: "nowrap" }, fmt.p(e))),
      el(
        "dl",
        { class: "facts" },
        fact("Studies, women", fmt.size(e)),
        fact("Certainty", el("span", { class: "certainty-symbol", "aria-hidden": "true" }, e.certainty.symbol),
          " " + e.certainty.label),
      ),
      el("p", { class: "statement" }, e.statement),
    );
    const a = e.absolute;
    if (a) {
      item.append(el("p", { class: "absolute" },
        "With a baseline chance of live birth of " + fmt.percent(a.baseline_risk) + " (" + fmt.per1000(a.baseline_risk) +
        " per 1000) without IVIG: " + fmt.per1000(a.risk_with_ivig) + " per 1000 with IVIG (" + level + " CI " +
        fmt.per1000(a.risk_with_ivig_ci_low) + " to " + fmt.per1000(a.risk_with_ivig_ci_high) + "), " +
        fmt.signedPer1000(a.risk_difference_per_1000) + " per 1000."));
      if (a.capped) {
        item.append(el("p", { class: "capped" }, el("strong", {}, a.note)));
      }
    }
    return item;
  }

  function traceLine(step) {
    const rows = step.rows.length ? step.rows.join(", ") : "none";
    const why = step.why.length ? ": " + step.why.join(" ") : "";
    return el("li", {}, step.table + ", row" + (step.rows.length !== 1 ? "s" : "") + " " + rows + why);
  }

  function answerView(answer) {
    const nodes = [
      el("h2", { id: "answer-heading" }, labels.statuses[answer.status]),
      el("p", { class: "bottom-line" }, el("strong", {}, "Bottom line."), " " + answer.bottom_line),
    ];
    if (answer.estimates.length) {
      nodes.push(el("ul", { class: "estimates" }, ...answer.estimates.map(estimateView)));
    }
    if (answer.missing_information.length) {
      nodes.push(el("h3", {}, "Information that would change or sharpen this answer"));
      nodes.push(el("ul", { class: "missing" },
        ...answer.missing_information.map((name) => el("li", {}, fieldLabel(name) + " (", el("code", {}, name), ")"))));
    }
    if (answer.applicability_notes.length) {
      nodes.push(el("h3", {}, "How well the evidence fits"));
      nodes.push(el("ul", { class: "notes" }, ...answer.applicability_notes.map((note) => el("li", {}, note.text))));
    }
    nodes.push(el("details", { class: "trace" }, el("summary", {}, "Why this answer"),
      el("ul", {}, ...answer.trace.map(traceLine))));
    return nodes;
  }

  function errorsView(errors) {
    return [
      el("h2", { id: "answer-heading" }, "Check the patient details"),
      el(
        "div",
        { class: "form-errors", role: "alert" },
        el("p", {}, "No answer is shown until these are corrected:"),
        el("ul", {}, ...errors.map((error) => el(
          "li",
          { id: "error-" + error.field },
          el("strong", {}, fieldLabel(error.field)),
          " (", el("code", {}, error.field), "): " + error.message + "; you entered “" + error.value + "”.",
        ))),
      ),
    ];
  }

  function markInvalid(errors) {
    const invalid = new Set(errors.map((error) => error.field));
    for (const control of form.querySelectorAll("input, select, fieldset")) {
      const name = control.name || (control.querySelector("input") || {}).name;
      const isInvalid = invalid.has(name);
      if (control.tagName !== "FIELDSET" && control.type !== "checkbox") {
        control.toggleAttribute("aria-invalid", false);
        if (isInvalid) {
          control.setAttribute("aria-invalid", "true");
        }
      }
      if (control.type !== "checkbox") {
        control.toggleAttribute("aria-describedby", false);
        if (isInvalid) {
          control.setAttribute("aria-describedby", "error-" + name);
        }
      }
    }
  }

  /* Form fields -> profile JSON. A value that does not parse is sent as typed, so the server names the field. */
  function profileFromForm() {
    const profile = {};
    const text = (name) => (form.elements[name].value || "").trim();
    const number = (raw, pattern) => (pattern.test(raw) ? Number(raw) : raw);
    const decimal = /^-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/;
    const losses = text("prior_pregnancy_losses");
    if (losses) {
      profile.prior_pregnancy_losses = number(losses, /^[0-9]+$/);
    }
    for (const name of ["nk_cell_percent", "baseline_live_birth_risk"]) {
      const raw = text(name);
      if (raw) {
        profile[name] = number(raw, decimal);
      }
    }
    const conditions = [...form.querySelectorAll("input[name=autoimmune_conditions]:checked")].map((box) => box.value);
    if (conditions.length) {
      profile.autoimmune_conditions = conditions.length === 1 && conditions[0] === "none" ? [] : conditions;
    }
    const th1th2 = text("th1_th2_ratio_elevated");
    if (th1th2) {
      profile.th1_th2_ratio_elevated = th1th2 === "true" ? true : th1th2 === "false" ? false : th1th2;
    }
    const start = text("ivig_start");
    if (start) {
      profile.ivig_start = start;
    }
    return profile;
  }

  function errorsFrom422(body) {
    return (body.detail || []).map((item) => {
      const field = item.loc && item.loc.length > 1 ? String(item.loc[1]) : "profile";
      const value = typeof item.input === "object" ? JSON.stringify(item.input) : String(item.input);
      return { field: field, message: item.msg, value: value };
    });
  }

  async function updatePlot(highlight) {
    const query = new URLSearchParams(highlight.map((id) => ["highlight", id]));
    const response = await fetch(form.dataset.forestUrl + (highlight.length ? "?" + query : ""));
    if (!response.ok) {
      throw new Error("forest plot " + response.status);
    }
    const doc = new DOMParser().parseFromString(await response.text(), "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.namespaceURI !== "http://www.w3.org/2000/svg") {
      throw new Error("forest plot is not SVG");
    }
    document.querySelector("#forest svg").replaceWith(document.importNode(svg, true));
    const caption = document.getElementById("forest-caption");
    caption.textContent = highlight.length ? caption.dataset.matched : caption.dataset.unmatched;
    for (const row of document.querySelectorAll("#forest-table tbody tr")) {
      row.querySelector(".applies").textContent = highlight.includes(row.dataset.estimate) ? "Yes" : "No";
    }
  }

  function replaceChildren(id, nodes) {
    document.getElementById(id).replaceChildren(...nodes);
  }

  function remember() {
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (String(value).trim()) {
        query.append(name, value);
      }
    }
    history.replaceState(null, "", form.action + (query.toString() ? "?" + query : ""));
  }

  async function update() {
    const response = await fetch(form.dataset.answerUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(profileFromForm()),
    });
    const status = document.getElementById("update-status");
    if (response.status === 422) {
      const errors = errorsFrom422(await response.json());
      document.querySelectorAll("#warnings .warning-extra").forEach((node) => node.remove());
      replaceChildren("answer", errorsView(errors));
      markInvalid(errors);
      await updatePlot([]);
      status.textContent = "Check the patient details: no answer is shown until they are corrected.";
      return;
    }
    if (!response.ok) {
      throw new Error("answer " + response.status);
    }
    const answer = await response.json();
    const highlight = answer.estimates.map((e) => e.id.replace(ANALYSIS_PREFIX, ""));
    replaceChildren("warnings", warningsView(answer));
    replaceChildren("answer", answerView(answer));
    markInvalid([]);
    await updatePlot(highlight);
    document.getElementById("citation-text").textContent = answer.citation.text;
    document.getElementById("evidence-version").textContent = answer.evidence_version;
    remember();
    status.textContent = "Answer updated: " + labels.statuses[answer.status] + ".";
    document.getElementById("answer").focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    form.setAttribute("aria-busy", "true");
    update()
      .catch(() => form.submit())
      .finally(() => form.removeAttribute("aria-busy"));
  });
})();
