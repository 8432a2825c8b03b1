// Uploading many files: each in its own request, with its own progress bar and its own verdict, so a
// refused file (too large, unsupported, empty) does not hold up the others.

import { upload } from "./api.js";
import { announce, formatBytes, h } from "./dom.js";

const PARALLEL = 2;

function row(file) {
  const progress = h("progress", { max: 100, value: 0, "aria-label": `Uploading ${file.name}` });
  const verdict = h("span", { class: "verdict", text: "waiting" });
  const li = h("li", {}, h("span", { class: "name", text: `${file.name} (${formatBytes(file.size)})` }), verdict, progress);
  return { li, progress, verdict };
}

/** Send `files` with the options of `fields()` (a FormData maker); rows go into `list`. */
export async function uploadAll(files, list, fields, onAccepted) {
  const queue = [...files].map((file) => ({ file, ...row(file) }));
  list.prepend(...queue.map((item) => item.li));
  let accepted = 0;
  let refused = 0;
  async function worker() {
    for (let item = queue.shift(); item; item = queue.shift()) {
      const form = fields();
      form.append("files", item.file, item.file.name);
      item.verdict.textContent = "uploading";
      try {
        const result = await upload("POST", "/api/v1/documents", form, (share) => {
          item.progress.value = Math.round(share * 100);
        });
        const doc = result.documents[0];
        item.progress.value = 100;
        item.verdict.textContent = doc.duplicate ? "accepted (already here)" : "accepted";
        item.verdict.className = "verdict accepted";
        accepted += 1;
        onAccepted(doc);
      } catch (error) {
        item.progress.hidden = true;
        item.verdict.textContent = `refused: ${error.message}`;
        item.verdict.className = "verdict refused";
        refused += 1;
      }
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  announce(`${accepted} file${accepted === 1 ? "" : "s"} accepted, ${refused} refused${refused ? ": see the list of uploads" : ""}.`);
}
