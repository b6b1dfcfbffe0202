// The search page: reads the API and builds the page from DOM nodes. Text from articles goes in only
// as textContent (and <mark> elements for the matched words), never as HTML, so an article holding
// <script> or <img onerror> shows those characters and runs nothing.
"use strict";

const state = { token: sessionStorage.getItem("newsearch-token") || "" };
const $ = (id) => document.getElementById(id);
// Bidirectional controls would reorder the text around them: shown as their code points instead.
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function visible(text) {
  return String(text).replace(BIDI, (c) => `[U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}]`);
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = visible(value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

// Text with the spans [start, end) marked; offsets count code points, as the API's (Python's) do.
function marked(text, spans) {
  const chars = Array.from(String(text));
  const out = document.createDocumentFragment();
  let at = 0;
  for (const [start, end] of [...(spans || [])].sort((a, b) => a[0] - b[0])) {
    if (start < at) continue;
    out.append(document.createTextNode(visible(chars.slice(at, start).join(""))));
    out.append(el("mark", { text: chars.slice(start, end).join("") }));
    at = end;
  }
  out.append(document.createTextNode(visible(chars.slice(at).join(""))));
  return out;
}

async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [name, value] of params || []) url.searchParams.append(name, value);
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const response = await fetch(url, { headers });
  const body = await response.json();
  if (!response.ok) {
    if (response.status === 401) $("token").hidden = false;
    throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  }
  return body;
}

// -- the URL holds the whole state: ?q=...&page=2&source=BBC&year=2005, or ?article=ID&q=... ---------

function go(params) {
  const url = new URL(location.pathname, location.origin);
  for (const [name, value] of params) if (value !== "" && value != null) url.searchParams.append(name, value);
  history.pushState(null, "", url);
  show();
}

function current() { return new URLSearchParams(location.search); }

function withParam(name, value, keepPage = false) {
  const params = [...current()].filter(([key]) => key !== name && key !== "article" && (keepPage || key !== "page"));
  if (value != null) params.push([name, value]);
  return params;
}

function articleLink(id, query) {
  const params = new URLSearchParams([["article", id]]);
  if (query) params.append("q", query);
  const link = el("a", { href: `/?${params}`, class: "title" });
  link.addEventListener("click", (event) => {
    if (event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    go([...params]);
  });
  return link;
}

function day(iso) { return iso ? iso.slice(0, 10) : "undated"; }

function hitItem(hit, query) {
  const link = articleLink(hit.id, query);
  link.textContent = visible(hit.title || "(untitled)");
  const meta = el("p", { class: "meta", text: [hit.source, day(hit.published)].filter(Boolean).join(" · ") });
  const item = el("li", { class: "hit", "data-id": hit.id }, link, meta);
  for (const passage of hit.passages) item.append(el("p", { class: "passage" }, marked(passage.text, passage.highlights)));
  if (hit.similar && hit.similar.length) {
    const sources = [...new Set(hit.similar.map((copy) => copy.source).filter(Boolean))].join(", ");
    item.append(el("p", { class: "similar", text: `+${hit.similar.length} similar${sources ? ": " + sources : ""}` }));
  }
  return item;
}

function notes(results) {
  const box = $("notes");
  box.replaceChildren();
  if (results.suggestion) {
    const link = el("a", { href: "#", class: "suggestion", text: results.suggestion });
    link.addEventListener("click", (event) => { event.preventDefault(); go(withParam("q", results.suggestion)); });
    box.append(el("p", {}, "Did you mean ", link, "?"));
  }
  for (const [typed, spellings] of Object.entries(results.expansions || {})) {
    box.append(el("p", { text: `Also searched: ${spellings.join(", ")} (for “${typed}”)` }));
  }
  if (results.not_found && results.not_found.length) {
    box.append(el("p", { text: `No article has ${results.not_found.map((w) => `“${w}”`).join(" or ")}.` }));
  }
  if (results.relaxed_phrases && results.relaxed_phrases.length) {
    box.append(el("p", { text: "No article has the exact phrase; showing the articles with its words closest together." }));
  }
  if (results.filtered_out) box.append(el("p", { text: results.filtered_out.message }));
}

function facetList(results) {
  const box = $("facets");
  box.replaceChildren();
  const params = current();
  const active = [...params.getAll("source").map((value) => ["source", value]),
                  ...params.getAll("year").map((value) => ["year", value])];
  if (active.length) {
    const list = el("ul", { class: "active" });
    for (const [name, value] of active) {
      const remove = el("button", { type: "button", class: "remove", text: `${value} ×`, "aria-label": `Remove ${name} ${value}` });
      remove.addEventListener("click", () => go([...current()].filter(([k, v]) => !(k === name && v === value) && k !== "page")));
      list.append(el("li", {}, remove));
    }
    box.append(el("h2", { text: "Filters" }), list);
  }
  for (const [name, title] of [["source", "Sources"], ["year", "Years"]]) {
    const counts = (results.facets || {})[name] || [];
    if (!counts.length) continue;
    const list = el("ul", { class: `facet facet-${name}` });
    for (const { value, count } of counts.slice(0, 15)) {
      const button = el("button", { type: "button", class: "facet-value", "data-facet": name, "data-value": value });
      button.append(el("span", { text: value }), el("span", { class: "count", text: count.toLocaleString() }));
      button.addEventListener("click", () => {
        const kept = [...current()].filter(([key]) => key !== "page" && (name !== "year" || key !== "year"));
        go([...kept, [name, value]]);
      });
      list.append(el("li", {}, button));
    }
    box.append(el("h2", { text: title }), list);
  }
}

const SVG = "http://www.w3.org/2000/svg";

function timeline(counts) {
  const chart = $("timeline-chart");
  chart.replaceChildren();
  const buckets = counts.buckets || [];
  $("timeline").hidden = buckets.length < 2;
  if (buckets.length < 2) return;
  const width = 600, height = 90, gap = 1;
  const largest = Math.max(...buckets.map((b) => b.count), 1);
  const barWidth = width / buckets.length;
  chart.setAttribute("viewBox", `0 0 ${width} ${height + 16}`);
  buckets.forEach((bucket, i) => {
    const barHeight = Math.round((bucket.count / largest) * height);
    const bar = document.createElementNS(SVG, "rect");
    bar.setAttribute("x", i * barWidth);
    bar.setAttribute("y", height - barHeight);
    bar.setAttribute("width", Math.max(barWidth - gap, 1));
    bar.setAttribute("height", barHeight);
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = `${bucket.label}: ${bucket.count}`;
    bar.append(tip);
    chart.append(bar);
  });
  for (const [i, anchor] of [[0, "start"], [buckets.length - 1, "end"]]) {
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", anchor === "start" ? 0 : width);
    label.setAttribute("y", height + 14);
    label.setAttribute("text-anchor", anchor);
    label.textContent = buckets[i].label;
    chart.append(label);
  }
}

async function showResults(params) {
  const query = params.get("q");
  $("q").value = query;
  const request = [["q", query], ["facets", "source,year"]];
  for (const name of ["page", "sort", "all", "exact"]) if (params.get(name)) request.push([name, params.get(name)]);
  for (const source of params.getAll("source")) request.push(["source", source]);
  const year = params.get("year");
  if (year) request.push(["since", year], ["until", year]);
  $("status").textContent = "Searching…";
  const [results, counts] = await Promise.all([
    api("/api/search", request),
    api("/api/timeline", request.filter(([name]) => ["q", "source", "since", "until", "exact"].includes(name))),
  ]);
  const page = Math.floor(results.offset / results.limit) + 1;
  const stories = results.stories;
  $("status").textContent = stories ? `${stories.toLocaleString()} results (${results.elapsed_ms.toFixed(0)} ms)` : "No results.";
  notes(results);
  facetList(results);
  timeline(counts);
  $("hits").replaceChildren(...results.hits.map((hit) => hitItem(hit, query)));
  const pages = Math.max(Math.ceil(stories / results.limit), 1);
  $("page-of").textContent = `Page ${page} of ${pages.toLocaleString()}`;
  $("previous").disabled = !results.links.previous;
  $("next").disabled = !results.links.next;
  $("previous").onclick = () => go(withParam("page", String(page - 1), true));
  $("next").onclick = () => go(withParam("page", String(page + 1), true));
  $("pager").hidden = pages < 2;
  $("results-view").hidden = false;
}

async function showArticle(params) {
  const id = params.get("article");
  const query = params.get("q") || "";
  $("q").value = query;
  const extra = query ? [["q", query]] : [];
  const [found, related] = await Promise.all([
    api(`/api/articles/${encodeURIComponent(id)}`, extra),
    api(`/api/related/${encodeURIComponent(id)}`, [["limit", "5"]]),
  ]);
  const article = found.document;
  $("article-title").textContent = visible(article.title || "(untitled)");
  $("article-meta").textContent = visible([article.source, day(article.published), article.author].filter(Boolean).join(" · "));
  $("article-body").replaceChildren(marked(article.body, found.highlights));
  $("related").replaceChildren(...related.hits.map((hit) => hitItem(hit, "")));
  $("back").hidden = !query;
  $("back").onclick = (event) => { event.preventDefault(); history.length > 1 ? history.back() : go([["q", query]]); };
  $("status").textContent = "";
  $("article-view").hidden = false;
}

async function show() {
  const params = current();
  $("error").hidden = true;
  $("results-view").hidden = true;
  $("article-view").hidden = true;
  try {
    if (params.get("article")) await showArticle(params);
    else if (params.get("q")) await showResults(params);
    else { $("status").textContent = ""; $("q").focus(); }
  } catch (error) {
    $("status").textContent = "";
    $("error").textContent = visible(error.message);
    $("error").hidden = false;
  }
  document.title = params.get("q") ? `${params.get("q")} – newsearch` : "newsearch";
}

// -- keyboard: / focuses the search box; arrows move between results; Enter opens one ---------------

function resultLinks() {
  const view = $("article-view").hidden ? $("hits") : $("related");
  return [...view.querySelectorAll("a.title")];
}

document.addEventListener("keydown", (event) => {
  const typing = event.target instanceof HTMLInputElement;
  if (event.key === "/" && !typing) {
    event.preventDefault();
    $("q").focus();
    $("q").select();
  } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const links = resultLinks();
    if (!links.length || (typing && event.key === "ArrowUp")) return;
    event.preventDefault();
    const at = links.indexOf(document.activeElement);
    const next = event.key === "ArrowDown" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
    links[next].focus();
  } else if (event.key === "Escape" && typing) {
    event.target.blur();
  }
});

document.addEventListener("DOMContentLoaded", () => {
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = $("q").value.trim();
    if (query) go([["q", query]]);
  });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token-input").value;
    sessionStorage.setItem("newsearch-token", state.token);
    $("token").hidden = true;
    show();
  });
  window.addEventListener("popstate", show);
  show();
});
