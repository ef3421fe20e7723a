// The page of colorization-tf's service: pick a model, drop or choose photos, see
// gray | colorized | original for each, download the result. No external resources.
"use strict";

const PARALLEL_UPLOADS = 4;
const modelSelect = document.getElementById("model");
const formatSelect = document.getElementById("format");
const fileInput = document.getElementById("files");
const drop = document.getElementById("drop");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
const template = document.getElementById("result-template");
const queue = [];
let running = 0;

// sRGB <-> linear, to show the L channel the model saw (Lab with a = b = 0) from the result.
const toLinear = new Float32Array(256).map((_, i) => {
  const v = i / 255;
  return v > 0.04045 ? Math.pow((v + 0.055) / 1.055, 2.4) : v / 12.92;
});
function toSrgb(y) {
  const v = y > 0.0031308 ? 1.055 * Math.pow(y, 1 / 2.4) - 0.055 : 12.92 * y;
  return Math.max(0, Math.min(255, Math.round(v * 255)));
}

async function loadModels() {
  try {
    const response = await fetch("/v1/models");
    const body = await response.json();
    modelSelect.replaceChildren();
    for (const model of body.models) {
      const option = new Option(`${model.name}${model.info.resolution ? " (" + model.info.resolution + ")" : ""}`, model.name);
      option.disabled = model.state !== "AVAILABLE";
      modelSelect.add(option);
    }
    const loading = body.models.some((m) => m.state === "LOADING");
    statusLine.textContent = loading ? "Models are loading…" : `${body.models.length} model(s) ready.`;
    if (loading) setTimeout(loadModels, 1000);
  } catch (err) {
    statusLine.textContent = `Cannot reach the server: ${err}`;
  }
}

function grayFrom(img, canvas) {
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  const d = pixels.data;
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.2126 * toLinear[d[i]] + 0.7152 * toLinear[d[i + 1]] + 0.0722 * toLinear[d[i + 2]];
    d[i] = d[i + 1] = d[i + 2] = toSrgb(y);
  }
  context.putImageData(pixels, 0, 0);
}

function addResult(file) {
  const item = template.content.firstElementChild.cloneNode(true);
  item.querySelector(".name").textContent = file.name;
  item.querySelector(".state").textContent = "Waiting…";
  results.append(item);
  queue.push({ file, item, model: modelSelect.value, format: formatSelect.value });
  pump();
}

function fail(item, message) {
  item.classList.add("failed");
  item.querySelector(".state").textContent = "Failed.";
  const error = item.querySelector(".error");
  error.textContent = message;
  error.hidden = false;
}

async function colorize({ file, item, model, format }) {
  item.querySelector(".state").textContent = "Colorizing…";
  const form = new FormData();
  form.append("file", file, file.name);
  let response;
  try {
    response = await fetch(`/v1/models/${encodeURIComponent(model)}:colorize?format=${format}`, { method: "POST", body: form });
  } catch (err) {
    return fail(item, `${file.name}: the upload failed (${err.message})`);
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    return fail(item, message);
  }
  const url = URL.createObjectURL(await response.blob());
  const colorized = item.querySelector(".colorized");
  colorized.onload = () => {
    grayFrom(colorized, item.querySelector(".gray"));
    item.querySelector(".state").textContent = `Done: ${colorized.naturalWidth}×${colorized.naturalHeight}.`;
    item.classList.add("done");
  };
  colorized.src = url;
  colorized.alt = `${file.name}, colorized by ${model}`;
  const original = item.querySelector(".original");
  original.src = URL.createObjectURL(file);
  original.alt = `${file.name}, original`;
  original.onerror = () => { original.alt = `${file.name}: the browser cannot show this format`; };
  const download = item.querySelector(".download");
  download.href = url;
  download.download = `${file.name.replace(/\.[^.]*$/, "")}-colorized.${format === "jpeg" ? "jpg" : format}`;
  download.textContent = `Download ${download.download}`;
  download.hidden = false;
}

function pump() {
  while (running < PARALLEL_UPLOADS && queue.length) {
    running += 1;
    colorize(queue.shift()).finally(() => { running -= 1; pump(); });
  }
}

function addFiles(files) {
  if (!modelSelect.value) {
    statusLine.textContent = "No model is ready yet.";
    return;
  }
  for (const file of files) addResult(file);
}

fileInput.addEventListener("change", () => { addFiles(fileInput.files); fileInput.value = ""; });
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  addFiles(event.dataTransfer.files);
});
loadModels();
