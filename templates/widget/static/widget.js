/* EHR widget, progressive enhancement. Without JavaScript the form is a plain GET and the server renders the
   page. With it, the form fetches that same server-rendered page and swaps the warnings, the answer, the plot
   and the source in place, so the page has one renderer (templates/widget/page.html.j2) and the script cannot
   say anything the server did not. The fetched HTML is parsed inert by DOMParser (its scripts never run) and
   was escaped by the server's templates. */
(function () {
  "use strict";

  const form = document.getElementById("profile-form");
  if (!form || !window.fetch || !window.DOMParser) {
    return;
  }
  const SWAPPED = ["answer", "citation-text", "evidence-version"];

  function query() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (String(value).trim()) {
        params.append(name, String(value).trim());
      }
    }
    return params.toString();
  }

  /* The invalid markers of the form controls, as the server set them on its copy of the form. */
  function copyInvalidMarkers(fetched) {
    for (const control of form.querySelectorAll("input, select, fieldset")) {
      const twin = control.id ? fetched.getElementById(control.id) : null;
      const source = twin || (control.tagName === "FIELDSET" ? fetched.querySelector("fieldset.field") : null);
      for (const name of ["aria-invalid", "aria-describedby"]) {
        if (control.type === "checkbox") {
          continue;
        }
        const value = source ? source.getAttribute(name) : null;
        if (value === null) {
          control.removeAttribute(name);
        } else {
          control.setAttribute(name, value);
        }
      }
    }
  }

  async function update() {
    const search = query();
    const url = form.action + (search ? "?" + search : "");
    const response = await fetch(url, { headers: { Accept: "text/html" } });
    if (!response.ok && response.status !== 422) {
      throw new Error("widget " + response.status);
    }
    const fetched = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of SWAPPED) {
      const fresh = fetched.getElementById(id);
      const current = document.getElementById(id);
      if (!fresh || !current) {
        throw new Error("widget page lacks #" + id);
      }
      current.replaceWith(document.importNode(fresh, true));
    }
    copyInvalidMarkers(fetched);
    history.replaceState(null, "", url);
    const status = document.getElementById("update-status");
    if (response.status === 422) {
      status.textContent = "Check the patient details: no answer is shown until they are corrected.";
      return;
    }
    status.textContent = "Answer updated: " + document.getElementById("answer-heading").textContent + ".";
    document.getElementById("profile-details").open = false;
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
