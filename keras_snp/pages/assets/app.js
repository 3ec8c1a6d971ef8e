// keras_snp pages: renders index.html, encoder.html and node.html from
// window.SNP_SITE (data/site.js) and window.SNP_TAPS (data/tap_<i>.js).
// No network: data files are loaded with <script> elements (file:// works).
"use strict";
(function () {
  const S = window.SNP_SITE;
  const app = document.getElementById("app");
  const page = document.body.dataset.page;
  window.SNP_TAPS = window.SNP_TAPS || {};
  const waiting = {};
  window.SNP_ADD_TAP = function (obj) {
    window.SNP_TAPS[obj.name] = obj;
    (waiting[obj.name] || []).forEach((f) => f(obj));
  };
  if (!S) {
    app.innerHTML = "<p class=warn>data/site.js is missing.</p>";
    return;
  }
  const names = S.label_names;
  const K = S.num_classes;
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const fmt = (v, d = 3) => v === null || v === undefined ? "–" :
    (typeof v === "number" ? (Math.abs(v) >= 1000 ? v.toFixed(0) :
      v.toPrecision(d)) : esc(v));
  const pct = (v) => v === null || v === undefined ? "–" :
    (100 * v).toFixed(1) + " %";
  const tapBy = {};
  S.taps.forEach((t, i) => { tapBy[t.name] = t; t.index = i; });
  const encTitle = (e) => e.encoder === null ? "outside the encoders" :
    "encoder " + e.encoder;
  const nodeLink = (tap, d, text) =>
    `<a href="node.html#${encodeURIComponent(tap)}/${d}">${text ?? d}</a>`;
  const chips = (labels, cls) => "<span class=chips>" + labels.map((c) =>
    `<span class="${cls || ""}" title="label ${c}">${esc(names[c])}</span>`)
    .join("") + "</span>";
  const tip = document.createElement("div");
  tip.id = "tip";
  document.body.appendChild(tip);
  function showTip(ev, html) {
    tip.innerHTML = html; tip.style.display = "block";
    tip.style.left = ev.clientX + 12 + "px";
    tip.style.top = ev.clientY + 12 + "px";
  }
  const hideTip = () => { tip.style.display = "none"; };

  function loadTap(name) {
    if (window.SNP_TAPS[name]) return Promise.resolve(window.SNP_TAPS[name]);
    return new Promise((resolve, reject) => {
      (waiting[name] = waiting[name] || []).push(resolve);
      const s = document.createElement("script");
      s.src = tapBy[name].file;
      s.onerror = () => reject(new Error("cannot load " + tapBy[name].file));
      document.head.appendChild(s);
    });
  }
  async function unpack(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream()
      .pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  const deq = (q) => q / 127 - 1;
  const slotOf = new Map((S.images.used || []).map((i, s) => [i, s]));
  // data/tap_<i>.js's packed top images -> per node [[label, [[sprite
  // slot, test index, score, map row]]]] (writer.pack_top)
  async function unpackTop(T, nodes) {
    const pairs = new Int32Array((await unpack(T.top_pairs)).buffer);
    const index = new Int32Array((await unpack(T.top_index)).buffer);
    const score = new Float32Array((await unpack(T.top_score)).buffer);
    const top = Array.from({ length: nodes }, () => []);
    let at = 0;
    for (let p = 0; p < pairs.length; p += 3) {
      const entries = [];
      for (let j = 0; j < pairs[p + 2]; j++, at++) {
        entries.push([slotOf.get(index[at]), index[at], score[at],
          T.maps ? at : -1]);
      }
      top[pairs[p]].push([pairs[p + 1], entries]);
    }
    return top;
  }
  function rdbu(v) { // -1..1 -> red (positive) / blue (negative)
    const a = Math.min(1, Math.abs(v));
    return v >= 0 ? [255, Math.round(255 * (1 - a)), Math.round(255 * (1 - a))]
      : [Math.round(255 * (1 - a)), Math.round(255 * (1 - a)), 255];
  }
  function header(sub) {
    const bits = [S.view && S.view.name === "pruned" ? "the ANDC-pruned " +
      "model (pruned/model.keras)" : null, S.dataset, S.variant,
      "theta " + S.theta,
      S.readout + " readout"].filter(Boolean).map(esc).join(" · ");
    let h = `<div class=crumbs><a href="index.html">${esc(S.run)}</a>` +
      (sub ? " › " + sub : "") + toggle() + "</div>";
    if (S.not_learned) h += `<p class=warn>Analysed anyway, although the ` +
      `model did not learn: ${esc(S.not_learned)}.</p>`;
    return h + `<p class=muted>${bits}</p>`;
  }
  // The same page in the other model's site (unpruned <-> pruned/).
  function twinHref() {
    const other = S.view.other;
    if (page !== "node") return other + page + ".html" + location.hash;
    const [tapName, nodeText] = decodeURIComponent(location.hash.slice(1))
      .split("/");
    const t = tapBy[tapName];
    const d = parseInt(nodeText || "0", 10) || 0;
    if (t && t.twin && t.twin[d] >= 0) {
      return other + "node.html#" + encodeURIComponent(t.name) + "/" +
        t.twin[d];
    }
    return null;
  }
  function toggle() {
    if (!S.view || !S.view.other) return "";
    const pruned = S.view.name === "pruned";
    const here = `<b>${pruned ? "pruned" : "unpruned"}</b>`;
    const href = twinHref();
    const t = tapBy[decodeURIComponent(location.hash.slice(1)).split("/")[0]];
    let there = pruned ? "unpruned" : "pruned";
    if (href) {
      there = `<a id=twin href="${href}">${there}</a>`;
    } else {
      const why = t && t.twin ? (pruned ? "" : "node removed by the shrink")
        : "nodes not paired";
      there = `<a id=twin href="${S.view.other}encoder.html#${t ? t.key : ""}"` +
        ` title="${why}">${there}</a> <span class=muted>(${why})</span>`;
    }
    return `<span class=toggle>model: ${pruned ? there + " | " + here :
      here + " | " + there}</span>`;
  }
  function figure(id) {
    const t = document.getElementById(id);
    return t ? `<div class=figure>${t.innerHTML}</div>` : "";
  }
  function topNodes(t, n) {
    return t.diag.map((d, i) => [d.length, i]).filter((x) => x[0] > 0)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, n);
  }

  // ---------------------------------------------------------------- index
  function renderIndex() {
    let h = `<h1>What each node learned: ${esc(S.run)}</h1>` + header();
    h += `<div class=card><b>Search a label</b> (which nodes and heads are ` +
      `experts in it?) <input id=search list=labels placeholder="e.g. ` +
      `${esc(names[0])}" autocomplete=off><datalist id=labels>` +
      names.map((n) => `<option value="${esc(n)}">`).join("") +
      `</datalist><div id=results></div></div>`;
    h += "<h2>Depth profile</h2>" + figure("fig-depth");
    h += "<table><tr><th class=l>tap</th><th class=l>kind</th><th>nodes</th>" +
      "<th>readout acc.</th><th>labels / node</th><th>clusters / node</th>" +
      "<th>noise / node</th><th>SNR (|S|²/noise)</th><th>SNR (labels/noise)" +
      "</th><th>no label</th></tr>";
    S.taps.forEach((t) => {
      const s = t.stats;
      h += `<tr><td class=l><a href="encoder.html#${t.key}">${esc(t.name)}` +
        `</a></td><td class=l>${t.kind}</td><td>${t.nodes}</td>` +
        `<td>${pct(s.readout_accuracy)}</td><td>${fmt(s.mean_diag)}</td>` +
        `<td>${fmt(s.mean_clusters)}</td><td>${fmt(s.mean_noise)}</td>` +
        `<td>${fmt(s.snr)}</td><td>${fmt(s.snr_labels)}</td>` +
        `<td>${pct(s.empty_fraction)}</td></tr>`;
    });
    h += "</table>";
    h += "<h2>Encoders</h2>";
    S.encoders.forEach((e) => {
      h += `<div class=card><h3><a href="encoder.html#${e.key}">` +
        `${encTitle(e)}</a></h3>`;
      if (e.heads !== null && S.heads) {
        const enc = S.heads.encoders[e.heads];
        h += `<p>${enc.num_heads} heads, coverage ${pct(enc.metrics.coverage)}` +
          `, symmetry breaking: <b>${enc.symmetry_breaking ? "yes" : "no"}` +
          `</b></p><table><tr><th>head</th><th class=l>expert labels (L_h)` +
          `</th></tr>`;
        enc.heads.forEach((hd) => {
          h += `<tr><td>${hd.head}</td><td class=l>` +
            `${chips(hd.labels) || "<span class=muted>none</span>"}</td></tr>`;
        });
        h += "</table>";
      }
      e.taps.forEach((name) => {
        const t = tapBy[name];
        const best = topNodes(t, 10).map(([n, d]) =>
          nodeLink(name, d) + ` <span class=muted>(${n})</span>`);
        h += `<p><b>${esc(name)}</b> (${t.kind}, ${t.nodes} nodes): nodes ` +
          `with the most labels: ${best.join(", ") || "none"}</p>`;
      });
      h += "</div>";
    });
    app.innerHTML = h;
    const box = document.getElementById("search");
    box.addEventListener("input", () => search(box.value));
    const start = decodeURIComponent(location.hash.slice(1));
    if (start) { box.value = start; search(start); }
  }
  function search(text) {
    const out = document.getElementById("results");
    const q = text.trim().toLowerCase();
    if (!q) { out.innerHTML = ""; return; }
    let labels = names.map((n, i) => [String(n).toLowerCase(), i]);
    const exact = labels.filter(([n]) => n === q).map(([, i]) => i);
    labels = exact.length ? exact :
      labels.filter(([n]) => n.includes(q)).map(([, i]) => i).slice(0, 5);
    if (!labels.length) { out.innerHTML = "<p>No such label.</p>"; return; }
    let h = "";
    labels.forEach((c) => {
      h += `<h3 class=result-label>${esc(names[c])} <span class=muted>` +
        `(label ${c})</span></h3>`;
      const hs = [];
      if (S.heads) S.heads.encoders.forEach((enc) => enc.heads.forEach((hd) => {
        if (hd.labels.includes(c)) hs.push(
          `<a href="encoder.html#${tapBy[enc.tap] ? tapBy[enc.tap].key :
            "e" + enc.encoder}">encoder ${enc.encoder} head ${hd.head}</a>` +
          ` <span class=muted>(expertise ${fmt(hd.expertise[c], 2)})</span>`);
      }));
      h += `<p><b>Heads</b> (${hs.length}): ${hs.join(", ") || "none"}</p>`;
      S.taps.forEach((t) => {
        const ns = [];
        t.diag.forEach((d, i) => { if (d.includes(c)) ns.push([d.length, i]); });
        ns.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        if (!ns.length) return;
        h += `<p><b>${esc(t.name)}</b>: ${ns.length} node(s) ` +
          `<span class=muted>(fewest labels first)</span>: ` +
          ns.slice(0, 40).map(([, i]) => nodeLink(t.name, i)).join(", ") +
          (ns.length > 40 ? " …" : "") + "</p>";
      });
    });
    out.innerHTML = h;
  }

  // -------------------------------------------------------------- encoder
  function renderEncoder() {
    const key = decodeURIComponent(location.hash.slice(1)) || S.encoders[0].key;
    const e = S.encoders.find((x) => x.key === key);
    if (!e) { app.innerHTML = header() + "<p>No such encoder.</p>"; return; }
    let h = header(encTitle(e)) + `<h1>${esc(S.run)}: ${encTitle(e)}</h1>`;
    const i = S.encoders.indexOf(e);
    h += "<p>" + (i > 0 ? `<a href="encoder.html#${S.encoders[i - 1].key}">` +
      `‹ ${encTitle(S.encoders[i - 1])}</a> ` : "") +
      (i + 1 < S.encoders.length ? ` <a href="encoder.html#` +
        `${S.encoders[i + 1].key}">${encTitle(S.encoders[i + 1])} ›</a>` :
        "") + "</p>";
    if (e.heads !== null && S.heads) h += headsSection(e, S.heads.encoders[e.heads]);
    h += "<h2>Nodes</h2><p class=muted>One square per node, darker = more " +
      "labels in its diagonal set; white: none. Click one for its page.</p>";
    e.taps.forEach((name) => {
      const t = tapBy[name];
      const most = Math.max(1, ...t.diag.map((d) => d.length));
      h += `<h3>${esc(name)} <span class=muted>(${t.kind}, ${t.nodes} nodes,` +
        ` readout ${pct(t.stats.readout_accuracy)})</span></h3>` +
        "<div class=grid-nodes>" + t.diag.map((d, n) => {
          const a = d.length / most;
          const col = d.length ? `rgba(31,95,191,${0.15 + 0.85 * a})` : "#fff";
          return `<a href="node.html#${encodeURIComponent(name)}/${n}" ` +
            `style="background:${col};border:1px solid #ccd" data-tap=` +
            `"${esc(name)}" data-node=${n}>${n}</a>`;
        }).join("") + "</div>";
    });
    app.innerHTML = h;
    app.querySelectorAll(".grid-nodes a").forEach((a) => {
      const t = tapBy[a.dataset.tap]; const n = +a.dataset.node;
      a.addEventListener("mousemove", (ev) => showTip(ev, `node ${n}` +
        (t.head[n] >= 0 ? ` (head ${t.head[n]})` : "") + `: ` +
        (t.diag[n].map((c) => esc(names[c])).join(", ") || "no label") +
        `; noise ${t.noise[n]}`));
      a.addEventListener("mouseleave", hideTip);
    });
  }
  function headsSection(e, enc) {
    let h = `<h2>Heads of ${esc(enc.tap)}</h2>`;
    h += `<p>Coverage ${pct(enc.metrics.coverage)}, mean labels per head ` +
      `${fmt(enc.metrics.mean_labels_per_head)}, mean heads per label ` +
      `${fmt(enc.metrics.mean_heads_per_label)}. Symmetry breaking ` +
      `(every claim metric beats the null at p &lt; ${S.heads.p_threshold}):` +
      ` <b class=verdict>${enc.symmetry_breaking ? "yes" : "no"}</b>.</p>`;
    h += "<h3>Head × label expertise E[h, c]</h3>" + figure(`fig-${e.key}-expertise`);
    h += "<h3>Null model: the observed statistic against shuffled heads</h3>";
    h += figure(`fig-${e.key}-null`);
    const rows = Object.entries(enc.null || {});
    if (rows.length) {
      h += "<table><tr><th class=l>metric</th><th>observed</th><th>null mean" +
        "</th><th>null std</th><th>z</th><th>p</th><th class=l>specialised " +
        "is</th></tr>" + rows.map(([m, s]) => `<tr><td class=l>${m}</td>` +
          `<td>${fmt(s.observed)}</td><td>${fmt(s.null_mean)}</td><td>` +
          `${fmt(s.null_std)}</td><td>${fmt(s.z)}</td><td>${fmt(s.p)}</td>` +
          `<td class=l>${s.direction}</td></tr>`).join("") + "</table>";
    }
    h += "<h3>Each head: expert labels, and the accuracy drop when it is " +
      "silenced</h3><table><tr><th>head</th><th>nodes</th><th class=l>" +
      "expert labels L_h</th><th>head-only acc.</th><th>drop on L_h</th>" +
      "<th>drop elsewhere</th><th class=l>largest drops (label: points)</th>" +
      "</tr>";
    enc.heads.forEach((hd) => {
      const ab = hd.ablation;
      let drops = "–";
      if (ab) {
        drops = ab.per_label_drop.map((v, c) => [v, c])
          .filter((x) => x[0] !== null).sort((a, b) => b[0] - a[0])
          .slice(0, 6).map(([v, c]) => `${esc(names[c])}: ` +
            `${(100 * v).toFixed(0)}`).join(", ");
      }
      h += `<tr><td>${hd.head}</td><td>${hd.num_nodes}</td><td class=l>` +
        `${chips(hd.labels) || "none"}</td><td>` +
        `${hd.head_only ? pct(hd.head_only.accuracy) : "–"}</td><td>` +
        `${ab ? pct(ab.mean_drop_on_labels) : "–"}</td><td>` +
        `${ab ? pct(ab.mean_drop_on_others) : "–"}</td><td class=l>${drops}` +
        "</td></tr>";
    });
    h += "</table>";
    if (!S.heads.ablation_available) h += "<p class=note>The head ablation " +
      "did not run for this report (--no-ablation).</p>";
    return h;
  }

  // ----------------------------------------------------------------- node
  async function renderNode() {
    const [tapName, nodeText] = decodeURIComponent(location.hash.slice(1))
      .split("/");
    const t = tapBy[tapName] || S.taps[0];
    const d = Math.min(t.nodes - 1, Math.max(0, parseInt(nodeText || "0", 10) || 0));
    const enc = S.encoders.find((x) => x.key === t.key);
    let h = header(`<a href="encoder.html#${t.key}">${encTitle(enc)}</a> › ` +
      `${esc(t.name)} › node ${d}`);
    h += `<h1>${esc(t.name)}, node ${d}</h1><p>` +
      (d > 0 ? nodeLink(t.name, d - 1, "‹ node " + (d - 1)) + " " : "") +
      (d + 1 < t.nodes ? nodeLink(t.name, d + 1, "node " + (d + 1) + " ›") : "") +
      "</p>";
    app.innerHTML = h + "<p class=loading>Loading the tap's data…</p>";
    const T = await loadTap(t.name);
    if (T.top_pairs && T.top === true) T.top = await unpackTop(T, t.nodes);
    const clusters = T.clusters[d];
    const inCluster = {};
    clusters.forEach((cl, i) => cl.forEach((c) => { inCluster[c] = i + 1; }));
    h += "<div class=two><div>";
    h += `<h2>SNP matrix V (true label × output label)</h2><p class=muted>` +
      `Over the node's maximum (${fmt(T.V_peak[d])}), red &gt; 0, blue &lt; 0;` +
      ` cells above theta ${S.theta} dotted, cluster blocks outlined. ` +
      `Hover for names.</p><div class=heat-wrap><canvas id=heat></canvas>` +
      `</div></div><div>`;
    h += `<h2>Labels</h2><p>${t.diag[d].length} diagonal label(s), ` +
      `${clusters.length} cluster(s), noise <b class=noise>${t.noise[d]}</b>` +
      (t.head[d] >= 0 ? `, head ${t.head[d]}` : "") + `.</p>`;
    clusters.forEach((cl, i) => {
      h += `<p>cluster ${i + 1}: ${chips(cl, "c" + (1 + (i % 4)))}</p>`;
    });
    if (!clusters.length) h += "<p class=muted>No label: the node is silent " +
      "at this threshold.</p>";
    h += ablationHtml(t, T, d);
    h += andcHtml(T, d);
    h += "</div></div>";
    h += topHtml(t, T, d);
    app.innerHTML = h;
    const V = (await unpack(T.V)).subarray(d * K * K, (d + 1) * K * K);
    drawHeat(V, clusters, inCluster);
    if (T.maps && T.top) drawMaps(T, await unpack(T.maps));
  }
  function ablationHtml(t, T, d) {
    const ab = T.ablated[String(d)];
    let h = "<h2>Silencing the node</h2>";
    if (!S.ablation.available) return h + "<p class=note>Node ablation " +
      "needs the model and the test split; these pages were written " +
      "without them.</p>";
    if (!ab) {
      const which = S.ablation.nodes_per_tap < 0 ? "every node" :
        `the ${S.ablation.nodes_per_tap} node(s) per tap with the most ` +
        "diagonal labels";
      return h + `<p class=note>Not measured for this node: each silenced ` +
        `node costs two passes over the test split, so only ${which} ` +
        `were silenced (${t.ablated.map((n) => nodeLink(t.name, n)).join(", ")
        || "none here"}). keras-snp pages RUN_DIR --ablation-nodes N ` +
        "measures more.</p>";
    }
    const mean = (xs, keep) => {
      const v = xs.filter((x, c) => x !== null && keep(c));
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
    };
    const own = (c) => t.diag[d].includes(c);
    const rows = [["this node alone", ab.alone]];
    if (ab.mates) rows.push([`its ${ab.mate_nodes.length} cluster-mates ` +
      "together", ab.mates]);
    h += `<p class=muted>Per-label accuracy change on the first ` +
      `${S.ablation.images} test images ` +
      "(silenced minus intact), in points. Cluster-mates: the nodes of this " +
      "tap whose diagonal set holds the node's largest cluster.</p>" +
      "<table class=ablation><tr><th class=l>silenced</th><th>on its labels" +
      "</th><th>on the others</th><th class=l>largest drops</th></tr>";
    rows.forEach(([what, delta]) => {
      const worst = delta.map((v, c) => [v, c])
        .filter((x) => x[0] !== null && x[0] < 0)
        .sort((a, b) => a[0] - b[0]).slice(0, 5)
        .map(([v, c]) => `${esc(names[c])} ${(100 * v).toFixed(0)}`);
      h += `<tr><td class=l>${what}</td><td>${fmt(100 * mean(delta, own), 2)}` +
        `</td><td>${fmt(100 * mean(delta, (c) => !own(c)), 2)}</td>` +
        `<td class=l>${worst.join(", ") || "no label drops"}</td></tr>`;
    });
    h += "</table>";
    if (ab.mates) h += `<p class=muted>cluster-mates: ${ab.mate_nodes
      .map((n) => nodeLink(t.name, n)).join(", ")}</p>`;
    return h;
  }
  function andcHtml(T, d) {
    if (S.view && S.view.name === "pruned") return "<h2>ANDC connections" +
      "</h2><p class=muted>This is the pruned model: the connections ANDC " +
      "removed are zeros of its kernels (and nodes left with none are " +
      "gone). The unpruned model's page of this node lists what was kept " +
      "and removed (the toggle at the top).</p>";
    if (!T.andc || !T.andc.length) return S.andc ? "" :
      "<h2>ANDC connections</h2><p class=muted>No prune stage output.</p>";
    let h = `<h2>ANDC connections</h2><p class=muted>Scope ` +
      `${esc(S.andc.scope)}, theta ${S.andc.theta}; masks from the ` +
      "validation split's SNP.</p>";
    T.andc.forEach((c) => {
      const kept = c.kept[d];
      const list = c.other === "labels" ? kept.map((k) => esc(names[k])) :
        kept.map((k) => (tapBy[c.other] ? nodeLink(c.other, k) : k));
      h += `<p><b>${esc(c.layer)}</b> (${c.direction === "out" ? "to" :
        "from"} ${esc(c.other)}): kept <b>${kept.length}</b>, removed ` +
        `${c.total - kept.length} of ${c.total}` +
        (kept.length ? `: ${list.slice(0, 60).join(", ")}` +
          (kept.length > 60 ? " …" : "") : "") + "</p>";
    });
    return h;
  }
  function topHtml(t, T, d) {
    let h = "<h2>Test images that drive the node hardest</h2>";
    if (!T.top) return h + "<p class=note>Top images need the model and the " +
      "test split; these pages were written without them.</p>";
    h += `<p class=muted>Per label of its clusters, up to ${S.images.top_k} ` +
      (T.field === "readout" ? "test images with the largest field " +
        "phi_d(x, c) (the readout's logit for c with every other node " +
        "silenced)" : "test images of that label with the largest mean " +
        "activation (the run kept no readout weights: --save-readouts " +
        "ranks by the field)") +
      (T.maps ? "; the node's activation per token overlaid, from its lowest (clear) to its highest (red) on that image (toggle)" : "") +
      ".</p>";
    if (T.maps) h += "<label><input type=checkbox id=overlay checked> " +
      "activation map</label>";
    const size = S.images.size; const cols = S.images.columns;
    const scale = 64 / size;
    T.top[d].forEach(([c, entries]) => {
      h += `<h3>${esc(names[c])} <span class=muted>(${entries.length})` +
        `</span></h3><div class=thumbs>`;
      entries.forEach(([slot, index, score, row], r) => {
        const x = (slot % cols) * size * scale;
        const y = Math.floor(slot / cols) * size * scale;
        h += `<div class=thumb title="test image ${index}, score ` +
          `${score.toPrecision(3)}" style="background-image:url(` +
          `${S.images.sprite});background-position:-${x}px -${y}px;` +
          `background-size:${cols * size * scale}px auto">` +
          (row >= 0 ? `<canvas data-row=${row}></canvas>` : "") +
          `<span class=rank>${r + 1}</span></div>`;
      });
      h += "</div>";
    });
    return h;
  }
  function drawMaps(T, maps) {
    const [gh, gw] = T.grid; const n = gh * gw;
    document.querySelectorAll(".thumb canvas").forEach((cv) => {
      const row = +cv.dataset.row;
      cv.width = gw; cv.height = gh;
      const ctx = cv.getContext("2d");
      const img = ctx.createImageData(gw, gh);
      // each map over its own range (writer.pack_top): where in this image
      // the node fires most
      for (let i = 0; i < n; i++) {
        const v = maps[row * n + i] / T.map_levels;
        img.data[4 * i] = 255; img.data[4 * i + 1] = Math.round(220 * (1 - v));
        img.data[4 * i + 2] = 0; img.data[4 * i + 3] = Math.round(170 * v);
      }
      ctx.putImageData(img, 0, 0);
    });
    const box = document.getElementById("overlay");
    if (box) box.addEventListener("change", () => document
      .querySelectorAll(".thumb canvas").forEach((cv) => {
        cv.style.display = box.checked ? "" : "none";
      }));
  }
  function drawHeat(V, clusters, inCluster) {
    const cell = Math.max(3, Math.min(48, Math.floor(520 / K)));
    const cv = document.getElementById("heat");
    cv.width = cv.height = K * cell;
    const ctx = cv.getContext("2d");
    for (let i = 0; i < K; i++) {
      for (let c = 0; c < K; c++) {
        const v = deq(V[i * K + c]);
        const [r, g, b] = rdbu(v);
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect(c * cell, i * cell, cell, cell);
        if (v > S.theta) {
          ctx.fillStyle = "#000";
          const s = Math.max(1, cell / 4);
          ctx.fillRect(c * cell + cell / 2 - s / 2, i * cell + cell / 2 - s / 2,
            s, s);
        }
      }
    }
    const colors = ["#00a000", "#ff8c00", "#c000c0", "#00a0b0"];
    clusters.forEach((cl, k) => {
      ctx.strokeStyle = colors[k % 4]; ctx.lineWidth = Math.max(1, cell / 5);
      cl.forEach((i) => cl.forEach((c) => {
        ctx.strokeRect(c * cell + 0.5, i * cell + 0.5, cell - 1, cell - 1);
      }));
    });
    cv.addEventListener("mousemove", (ev) => {
      const rect = cv.getBoundingClientRect();
      const c = Math.floor((ev.clientX - rect.left) / cell);
      const i = Math.floor((ev.clientY - rect.top) / cell);
      if (c < 0 || i < 0 || c >= K || i >= K) return hideTip();
      showTip(ev, `true <b>${esc(names[i])}</b> → output <b>` +
        `${esc(names[c])}</b>: ${deq(V[i * K + c]).toFixed(2)}` +
        (inCluster[i] && inCluster[i] === inCluster[c] ?
          ` (cluster ${inCluster[i]})` : ""));
    });
    cv.addEventListener("mouseleave", hideTip);
  }

  const render = { index: renderIndex, encoder: renderEncoder,
    node: renderNode }[page];
  window.addEventListener("hashchange", () => render());
  Promise.resolve(render()).catch((err) => {
    app.innerHTML += `<p class=warn>${esc(err.message || err)}</p>`;
  });
})();
