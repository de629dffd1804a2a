/* 信用风险实时监测: renders the snapshots the worker pushes over /dashboard/stream (server-sent events).
 *
 * Hand-written, no library: every value is put in the page with textContent (never as HTML), and the
 * charts are inline SVG drawn here. The server does the aggregation; this file only draws. */
"use strict";

(function () {
  const STREAM_URL = "/dashboard/stream";
  const RECONNECT_AFTER_REFUSAL_MS = 10000;
  const GRADES = ["A", "B", "C", "D"];
  const KIND_LABELS = { LEGAL_PERSON: "法人", OTHER_ORGANIZATION: "非法人组织", INDIVIDUAL_BUSINESS: "个体工商户",
                        NATURAL_PERSON: "自然人" };
  const $ = (id) => document.getElementById(id);
  // The namespace of the page's own inline <svg>: the script names no URL.
  const SVG_NS = document.querySelector("svg").namespaceURI;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  const intFormat = new Intl.NumberFormat("zh-CN");
  const num = (n) => (n === null || n === undefined ? "—" : intFormat.format(n));
  // null: a count of the whole ledger withheld from a scoped supervisor (its snapshot's "withheld")
  const rate = (n) => (n === null || n === undefined ? "—" : n >= 10 ? n.toFixed(0) : n.toFixed(1));
  // Instants arrive as ISO text in +08:00 (Asia/Shanghai): cut, not converted.
  const timeOf = (iso) => (iso ? iso.slice(5, 10) + " " + iso.slice(11, 19) : "—");
  const dayOf = (iso) => (iso ? iso.slice(0, 10) : "—");

  function subjectCell(item) {
    const name = item.name || (KIND_LABELS[item.subject_kind] || "信用主体") +
      (item.subject_kind === "NATURAL_PERSON" ? "（已脱敏）" : "");
    const link = el("a", { href: "/subjects/" + encodeURIComponent(item.subject_id), target: "_blank",
                           rel: "noopener", className: "subject", title: "查看信用档案", text: name });
    return el("td", {}, link, el("span", { className: "id", text: item.subject_id }));
  }

  function fillRows(tbody, rows, columns, emptyText) {
    const fresh = rows.length ? rows : [el("tr", {}, el("td", { className: "empty", colspan: columns, text: emptyText }))];
    tbody.replaceChildren(...fresh);
  }

  // --- charts ------------------------------------------------------------------------------------
  function lineChart(svg, series, options) {
    const box = svg.viewBox.baseVal;
    const left = 44, right = box.width - 8, top = 8, bottom = box.height - 18;
    const length = Math.max(2, ...series.map((s) => s.values.length));
    let max = Math.max(4, ...series.flatMap((s) => s.values)); // at least 4: whole numbers on the axis
    max = niceCeil(max);
    const x = (i) => left + (right - left) * (i / (length - 1));
    const y = (v) => bottom - (bottom - top) * (v / max);
    const nodes = [];
    for (const fraction of [0, 0.5, 1]) {
      const value = max * fraction;
      nodes.push(svgEl("line", { x1: left, x2: right, y1: y(value), y2: y(value), class: "grid-line" }));
      const label = svgEl("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis" });
      label.textContent = Number.isInteger(value) ? num(value) : value.toFixed(1);
      nodes.push(label);
    }
    for (const [text, anchor, at] of [[options.from, "start", left], [options.to, "end", right]]) {
      const label = svgEl("text", { x: at, y: box.height - 4, "text-anchor": anchor, class: "axis" });
      label.textContent = text;
      nodes.push(label);
    }
    for (const s of series) {
      if (!s.values.length) continue;
      const offset = length - s.values.length; // right-aligned: the newest value is at the right edge
      const points = s.values.map((v, i) => `${x(i + offset).toFixed(1)},${y(v).toFixed(1)}`);
      if (s.area) {
        const first = x(offset).toFixed(1), last = x(length - 1).toFixed(1);
        nodes.push(svgEl("polygon", { points: `${first},${bottom} ${points.join(" ")} ${last},${bottom}`,
                                      class: "area " + s.className }));
      }
      nodes.push(svgEl("polyline", { points: points.join(" "), class: "line " + s.className }));
    }
    svg.replaceChildren(...nodes);
  }

  function niceCeil(value) {
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (value <= step * power) return step * power;
    }
    return 10 * power;
  }

  // --- panels ------------------------------------------------------------------------------------
  function renderHeader(s) {
    $("clock").textContent = "账本时钟 " + s.clock.slice(0, 19).replace("T", " ");
    const speed = $("speed");
    speed.hidden = s.clock_speed === 1;
    speed.textContent = "时钟加速 " + num(s.clock_speed) + " 倍";
    $("updated").textContent = "更新于 " + timeOf(s.generated_at) + (s.scope ? "（限监管范围）" : "");
    setStatus(s.ready ? "live" : "wait", s.ready ? "实时" : "追赶中");
  }

  function renderKpis(s) {
    $("kpi-records").textContent = num(s.ledger.records);
    $("kpi-subjects").textContent = num(s.ledger.subjects);
    $("kpi-rate").textContent = rate(s.rates.per_s);
    $("kpi-deadlines").textContent = num(s.deadlines.pending_total);
    $("kpi-grade-d").textContent = num(s.grades.counts ? s.grades.counts.D : null);
    $("kpi-lag").textContent = num(s.lag.total);
  }

  function renderRates(r) {
    $("rates-window").textContent = `近 ${r.window_s} 秒条数`;
    $("rates-note").textContent = `近 ${r.window_s} 秒均值` + (r.rejected_per_s ? `，拒收 ${rate(r.rejected_per_s)} 条/秒` : "");
    lineChart($("chart-rates"), [{ values: r.series, className: "s-total", area: true }],
              { from: `${r.series.length} 秒前`, to: "现在" });
    const rows = r.by_type.map((t) => el("tr", {},
      el("td", { text: t.label, title: t.type }), el("td", { className: "num", text: rate(t.per_s) }),
      el("td", { className: "num", text: num(t.count) })));
    fillRows($("rates").tBodies[0], rows, 3, "近期没有新事件");
  }

  function renderGrades(g, trend) {
    const counts = g.counts || {};
    const total = GRADES.reduce((sum, letter) => sum + (counts[letter] || 0), 0);
    const rows = GRADES.map((letter) => {
      const count = counts[letter] || 0;
      const share = total ? (100 * count) / total : 0;
      return el("div", { className: "row" },
        el("span", { className: "g-" + letter, text: `${letter} ${g.labels[letter] || ""}` }),
        el("div", { className: "bar" }, el("i", { className: "fill-" + letter, style: `width:${share.toFixed(1)}%` })),
        el("span", { className: "count", text: `${num(count)}（${share.toFixed(1)}%）` }));
    });
    $("grade-bars").replaceChildren(...rows);
    lineChart($("chart-grades"), GRADES.map((letter) => ({ values: trend[letter], className: "s-" + letter })),
              { from: trendSpan(trend), to: "现在" });
  }

  function renderChanges(changes) {
    const rows = changes.map((c) => {
      const from = c.from_letter || "—";
      const className = c.downgrade ? "downgrade" : c.upgrade ? "upgrade" : c.score_delta < 0 ? "score-down" : "";
      const delta = c.score_delta === null ? "" : ` (${c.score_delta > 0 ? "+" : ""}${c.score_delta})`;
      return el("tr", { className },
        el("td", { className: "time", text: timeOf(c.at) }), subjectCell(c),
        el("td", { className: "grade", text: `${from} → ${c.to_letter}` + (c.downgrade ? " 降级" : c.upgrade ? " 升级" : "") }),
        el("td", { className: "num", text: num(c.to_score) + delta }),
        el("td", { text: c.cause_label }));
    });
    fillRows($("changes").tBodies[0], rows, 5, "暂无等级变动");
  }

  function ratioCell(row) {
    if (row.timely_ratio === null) return el("td", { text: "—" });
    const percent = 100 * row.timely_ratio;
    const className = "ratio" + (percent < 80 ? " bad" : percent < 95 ? " poor" : "");
    return el("td", {}, el("div", { className },
      el("div", { className: "bar" }, el("i", { style: `width:${percent.toFixed(1)}%` })),
      el("b", { text: percent.toFixed(1) + "%" })));
  }

  function renderTimeliness(t) {
    const rows = t.authorities.map((a) => el("tr", {},
      el("td", { text: a.name || a.code, title: a.code }), el("td", { className: "num", text: num(a.on_time) }),
      el("td", { className: "num", text: num(a.late) }), el("td", { className: "num", text: num(a.overdue) }),
      ratioCell(a)));
    fillRows($("timeliness").tBodies[0], rows, 5, "暂无双公示记录");
    const totals = t.totals;
    $("timeliness").tFoot.replaceChildren(el("tr", {},
      el("td", { text: `合计（${num(t.authorities_total)} 个部门）` }), el("td", { className: "num", text: num(totals.on_time) }),
      el("td", { className: "num", text: num(totals.late) }), el("td", { className: "num", text: num(totals.overdue) }),
      ratioCell(totals)));
    $("timeliness-note").textContent = t.authorities_total > t.authorities.length
      ? `漏报、迟报最多的 ${t.authorities.length} 个部门` : "";
  }

  function remaining(days) {
    if (days <= 0) return "已到期";
    if (days < 1) return `${Math.max(1, Math.round(days * 24))} 小时`;
    return `${days.toFixed(days < 10 ? 1 : 0)} 天`;
  }

  function renderDeadlines(d) {
    const pending = d.pending;
    $("deadlines-note").textContent = pending === null ? "监管范围内：全账本待到期数不提供" :
      `待到期：承诺 ${num(pending.COMMITMENT || 0)}，异议 ${num(pending.OBJECTION || 0)}，修复 ${num(pending.REPAIR || 0)}`;
    const near = d.near.map((n) => el("tr", { className: n.remaining_days <= 0 ? "overdue" : "" },
      el("td", { text: n.label }), subjectCell(n), el("td", { text: n.ref }), el("td", { text: n.due_on }),
      el("td", { className: "num", text: remaining(n.remaining_days) })));
    fillRows($("near").tBodies[0], near, 5, "暂无临近到期的承诺、异议或修复");
    const overdue = d.overdue.map((o) => el("tr", { className: "overdue" },
      el("td", { text: o.label }), subjectCell(o), el("td", { text: o.ref }), el("td", { text: o.due_on || "—" }),
      el("td", { className: "time", text: timeOf(o.at) })));
    fillRows($("overdue").tBodies[0], overdue, 5, "暂无逾期");
  }

  function renderBlacklist(entries) {
    const rows = entries.map((b) => {
      const subject = subjectCell(b);
      subject.append(el("div", { className: "reason", text: b.reason, title: b.reason }));
      return el("tr", { className: b.active ? "" : "inactive" },
        el("td", { className: "time", text: dayOf(b.occurred_on) }), subject, el("td", { text: b.list_label }),
        el("td", {}, el("span", { className: "tag " + (b.active ? "active" : "ended"), text: b.active ? "在列" : "已移出" })));
    });
    fillRows($("blacklist").tBodies[0], rows, 4, "暂无失信名单记录");
  }

  function trendSpan(trend) {
    const minutes = Math.round((trend.lag.length * trend.interval_s) / 60);
    return trend.lag.length ? (minutes ? `${minutes} 分钟前` : "刚才") : "";
  }

  function renderLag(s) {
    lineChart($("chart-lag"), [{ values: s.trend.lag, className: "s-lag", area: true }],
              { from: trendSpan(s.trend), to: "现在" });
    const rows = s.lag.partitions.map((p) => el("tr", {},
      el("td", { text: `分区 ${p.partition}` }),
      el("td", { className: "num", text: p.applied_offset < 0 ? "—" : num(p.applied_offset) }),
      el("td", { className: "num", text: num(p.lag) })));
    fillRows($("lag").tBodies[0], rows, 3, "尚未分配分区");
  }

  function render(snapshot) {
    renderHeader(snapshot);
    renderKpis(snapshot);
    renderRates(snapshot.rates);
    renderGrades(snapshot.grades, snapshot.trend);
    renderChanges(snapshot.grade_changes);
    renderTimeliness(snapshot.timeliness);
    renderDeadlines(snapshot.deadlines);
    renderBlacklist(snapshot.blacklist);
    renderLag(snapshot);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }

  function setStatus(kind, text) {
    const status = $("status");
    status.className = "status " + kind;
    status.textContent = text;
  }

  // --- the stream --------------------------------------------------------------------------------
  function connect() {
    const source = new EventSource(STREAM_URL);
    source.addEventListener("snapshot", (message) => {
      try {
        render(JSON.parse(message.data));
      } catch (error) {
        setStatus("down", "数据异常");
        throw error;
      }
    });
    // EventSource reconnects by itself after a broken stream (the server's retry: interval), but not
    // after a refusal (503: too many open dashboards): then try again a little later.
    source.addEventListener("error", () => {
      setStatus("down", "连接中断，正在重连…");
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, RECONNECT_AFTER_REFUSAL_MS);
    });
  }

  connect();
})();
