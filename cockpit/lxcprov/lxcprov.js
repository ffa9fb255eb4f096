/* global cockpit, Terminal */
/* The lxcprov page. Every action runs `lxcprov ... --json` through cockpit.spawn and the
   page renders what lxcprov printed; errors are shown as lxcprov wrote them ("error:" and
   "hint:" lines). Nothing here decides anything about containers: lxcprov does. */
"use strict";

/** Spawn options: root sessions ignore superuser; an admin's session gets sudo. */
const SPAWN = { superuser: "try", err: "message" };

/* ---------- theme: the shell keeps the Style menu's choice in localStorage ---------- */

function applyTheme() {
    const style = localStorage.getItem("shell:style") || "auto";
    const dark = style === "dark" ||
        (style === "auto" && window.matchMedia("(prefers-color-scheme: dark)").matches);
    document.documentElement.classList.toggle("pf-theme-dark", dark);
}
window.addEventListener("storage", ev => { if (ev.key === "shell:style") applyTheme(); });
window.addEventListener("cockpit-style", applyTheme);
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
applyTheme();

/* ---------- running lxcprov ---------- */

/**
 * @typedef {{message: string, hint: string, details: string[]}} Failure
 * What lxcprov wrote on stderr when it failed: its "error:" and "hint:" lines, and the
 * indented lines before them (doctor's findings on a failed start, for example).
 */

/** @returns {Failure} */
function failure(ex) {
    const text = (ex && typeof ex.message === "string") ? ex.message : "";
    const out = { message: "", hint: "", details: [] };
    for (const line of text.split("\n")) {
        if (line.startsWith("error: ")) out.message = line.slice(7);
        else if (line.startsWith("hint: ")) out.hint = line.slice(6);
        else if (line.startsWith("  ")) out.details.push(line.trim());
    }
    if (!out.message) {
        out.message = ex && ex.problem === "not-found"
            ? "lxcprov was not found on this machine's PATH"
            : (text.trim() || cockpit.message(ex));
        if (ex && ex.problem === "not-found") out.hint = "install it: ./scripts/install in lxcprov's clone";
    }
    return out;
}

/**
 * Run `lxcprov ARGS`; resolve with its JSON output. `input` goes to its stdin (a password
 * for --root-password-file /dev/stdin). okExits: exit codes whose stdout is still the
 * answer (doctor exits 1 when errors remain).
 * @param {string[]} args
 * @param {{input?: string, okExits?: number[]}} [opts]
 * @returns {Promise<any>}
 */
function lxcprov(args, opts = {}) {
    return new Promise((resolve, reject) => {
        const proc = cockpit.spawn(["lxcprov", ...args], SPAWN);
        const parse = out => {
            try {
                resolve(out && out.trim() ? JSON.parse(out) : null);
            } catch (e) {
                reject({ message: "lxcprov printed something that is not JSON", hint: String(e), details: [] });
            }
        };
        proc.then(parse, (ex, out) => {
            if (opts.okExits && opts.okExits.includes(ex.exit_status) && out) parse(out);
            else reject(failure(ex));
        });
        proc.input(opts.input || "");  // and close stdin: nothing waits on it
    });
}

/* ---------- small DOM helpers (text only: nothing lxcprov prints becomes HTML) ---------- */

/** @returns {HTMLElement} */
function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === null || v === undefined || v === false) continue;
        if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
        else if (k === "class") node.className = v;
        else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
        if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
    }
    return node;
}
const $ = id => document.getElementById(id);

function button(text, kind, onclick, attrs = {}) {
    return el("button", { class: `pf-c-button pf-m-${kind}`, type: "button", onclick, ...attrs }, text);
}

/** A PatternFly inline alert. kind: danger, warning, success, info. */
function alertBox(kind, title, body = [], attrs = {}) {
    return el("div", { class: `pf-c-alert pf-m-inline pf-m-${kind}`, role: kind === "danger" ? "alert" : "status", ...attrs },
        el("p", { class: "pf-c-alert__title" }, el("span", { class: "lx-sr" }, `${kind} alert: `), title),
        body.length ? el("div", { class: "pf-c-alert__description" }, body) : null);
}

/** lxcprov's failure as an alert: its message, its hint, the lines it printed before. */
function failureBox(f, what) {
    return alertBox("danger", what ? `${what}: ${f.message}` : f.message, [
        f.hint ? el("p", { class: "lx-hint" }, "hint: ", f.hint) : null,
        f.details.length ? el("pre", {}, f.details.join("\n")) : null,
    ]);
}

function show(target, ...nodes) { $(target).replaceChildren(...nodes); }

function stateLabel(state) {
    const colour = { RUNNING: "green", STOPPED: "grey", BROKEN: "red", INCOMPLETE: "orange", CREATING: "blue", CHANGING: "blue", DESTROYING: "blue" }[state] || "grey";
    return el("span", { class: `pf-c-label pf-m-${colour}`, "data-state": state },
        el("span", { class: "pf-c-label__content" }, state));
}

function yesNo(v) { return v === true ? "yes" : v === false ? "no" : "?"; }

/* ---------- the live list: one `lxcprov ls --watch --json`, a line per change ---------- */

/** @type {Array<{name: string, state: string, ipv4: string[], ipv6?: string[], memory: ?string, privileged: ?boolean, autostart: ?boolean, problem?: string}> | null} */
let rows = null;
let watcher = null;

function watch() {
    let buf = "";
    watcher = cockpit.spawn(["lxcprov", "ls", "--watch", "--json"], SPAWN);
    watcher.stream(chunk => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (line.trim()) {
                rows = JSON.parse(line);
                $("watch-error").replaceChildren();
                renderRows();
            }
        }
    });
    watcher.then(() => {}, ex => {
        if (ex && ex.problem === "terminated") return;
        show("watch-error", failureBox(failure(ex), "The list is not live"));
        setTimeout(watch, 10000);
    });
}
window.addEventListener("unload", () => watcher && watcher.close("terminated"));

function renderRows() {
    if (rows === null) return;
    $("list-empty").hidden = rows.length > 0;
    $("list-table").hidden = rows.length === 0;
    $("list-rows").replaceChildren(...rows.map(r => el("tr", { "data-name": r.name },
        el("td", { "data-label": "Name" }, el("a", { href: `#/container/${encodeURIComponent(r.name)}` }, r.name)),
        el("td", { "data-label": "State" }, stateLabel(r.state), r.problem ? el("div", { class: "lx-muted" }, r.problem) : null),
        el("td", { "data-label": "Addresses" }, [...r.ipv4, ...(r.ipv6 || [])].join(", ") || "-"),
        el("td", { "data-label": "Memory used" }, usedText(r.name)),
        el("td", { "data-label": "Memory limit" }, r.memory || "none"),
        el("td", { "data-label": "Privileged" }, yesNo(r.privileged)),
        el("td", { "data-label": "Autostart" }, yesNo(r.autostart)),
        el("td", { class: "pf-c-table__action" }, el("div", { class: "lx-row-actions" },
            r.state === "RUNNING"
                ? button("Stop", "secondary", () => lifecycle("stop", r.name, "list-alerts"), { "aria-label": `Stop ${r.name}` })
                : button("Start", "secondary", () => lifecycle("start", r.name, "list-alerts"), { "aria-label": `Start ${r.name}` }),
            button("Destroy", "danger", () => confirmDestroy(r.name), { "aria-label": `Destroy ${r.name}` }))))));
    $("list-updated").textContent = `Live: updated ${new Date().toLocaleTimeString()}`;
    if (current.page === "container") renderState();
}

/** start NAME / stop NAME; the list follows by itself. */
function lifecycle(verb, name, alerts) {
    $(alerts).replaceChildren(alertBox("info", `${verb === "start" ? "Starting" : "Stopping"} ${name}…`));
    return lxcprov([verb, name, "--json"]).then(
        data => show(alerts, alertBox("success", `${data.name} is ${data.state}`)),
        f => show(alerts, failureBox(f, `${verb} ${name}`)));
}

/* ---------- confirmation of what cannot be undone ---------- */

let confirming = null;
let returnFocus = null;

/** Ask first: title, text, the confirming button's label; run() when confirmed. */
function confirmThen(title, text, label, run) {
    confirming = run;
    returnFocus = document.activeElement;
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = label;
    $("confirm-dialog").hidden = false;
    $("confirm-cancel").focus();
}

function closeConfirm() {
    $("confirm-dialog").hidden = true;
    confirming = null;
    if (returnFocus && document.body.contains(returnFocus)) returnFocus.focus();
}

function doConfirmed() {
    const run = confirming;
    closeConfirm();
    if (run) run();
}

function confirmDestroy(name) {
    confirmThen(`Destroy ${name}?`,
        `${name} and all its files are removed; a running container is stopped first. This cannot be undone.`,
        "Destroy", () => doDestroy(name));
}

function doDestroy(name) {
    const alerts = current.page === "container" ? "ct-alerts" : "list-alerts";
    show(alerts, alertBox("info", `Destroying ${name}…`));
    lxcprov(["destroy", name, "--force", "--json"]).then(data => {
        if (current.page === "container" && current.name === name) cockpit.location.go("/");
        show("list-alerts", alertBox("success", `${data.name} destroyed`));
    }, f => show(alerts, failureBox(f, `destroy ${name}`)));
}

/* ---------- Create: the guided `new` as a form ---------- */

let templates = null;

function loadTemplates() {
    if (templates) return;
    lxcprov(["templates", "--json"]).then(list => {
        templates = list;
        const select = $("new-template");
        select.replaceChildren(...list.map(t => el("option", { value: t.name, disabled: !t.usable },
            t.usable ? t.name : `${t.name} (cannot work here)`)));
        const usable = list.filter(t => t.usable).map(t => t.name);
        select.value = usable.includes("debian") ? "debian" : (usable[0] || "");
        templateChanged();
    }, f => show("new-check", failureBox(f, "templates")));
}

function templateChanged() {
    const t = (templates || []).find(x => x.name === $("new-template").value);
    $("new-template-help").textContent = t ? t.needs : "";
    const release = $("new-release");
    release.disabled = !t || !t.takes_release;
    release.replaceChildren(...(t && t.takes_release
        ? (t.releases.length ? t.releases : [t.default_release || ""]).map(r => el("option", { value: r }, r || "default"))
        : [el("option", { value: "" }, "none (this template has no releases)")]));
    if (t && t.default_release) release.value = t.default_release;
    formChanged();
}

function choice(name) { return document.querySelector(`input[name="${name}"]:checked`).value; }

/** The form as `lxcprov new` arguments, and what goes to its stdin (the password or key). */
function newArgs() {
    const args = ["new", $("new-name").value.trim(), "--template", $("new-template").value];
    if (!$("new-release").disabled && $("new-release").value) args.push("--release", $("new-release").value);
    const net = choice("net");
    if (net === "none") args.push("--network", "none");
    else {
        if ($("new-bridge").value.trim()) args.push("--bridge", $("new-bridge").value.trim());
        if (net === "auto") args.push("--ip", "auto");
        if (net === "static") args.push("--ip", $("new-ip").value.trim());
    }
    let input = "";
    const access = choice("access");
    if (access === "password") {
        args.push("--root-password-file", "/dev/stdin");
        input = $("new-password").value ? $("new-password").value + "\n" : "";
    } else if (access === "key") {
        args.push("--ssh-key", "/dev/stdin");
        input = $("new-key").value;
    }
    for (const key of ["memory", "cpus"]) {
        const v = $(`new-${key}`).value.trim();
        if (v) args.push(`--${key}`, v);
    }
    if ($("new-autostart").checked) args.push("--autostart", "yes");
    return { args, input };
}

let checkTimer = null;
let checkSeq = 0;

/** As you type: `lxcprov new ... --check --json` says what is wrong, or the one-line command. */
function formChanged() {
    $("new-password-group").hidden = choice("access") !== "password";
    $("new-key-group").hidden = choice("access") !== "key";
    $("new-bridge-group").hidden = choice("net") === "none";
    $("new-ip-group").hidden = choice("net") !== "static";
    $("new-create").disabled = true;
    clearTimeout(checkTimer);
    checkTimer = setTimeout(() => {
        const seq = ++checkSeq;
        const { args, input } = newArgs();
        const box = $("new-check");
        box.dataset.state = "checking";
        lxcprov([...args, "--check", "--json"], { input }).then(data => {
            if (seq !== checkSeq) return;
            $("new-command").textContent = data.command;
            box.className = "lx-check lx-ok";
            box.dataset.state = "ok";
            box.textContent = "Ready to create.";
            $("new-create").disabled = false;
        }, f => {
            if (seq !== checkSeq) return;
            box.className = "lx-check lx-bad";
            box.dataset.state = "error";
            box.replaceChildren(el("span", {}, f.message), f.hint ? el("span", { class: "lx-muted" }, ` (${f.hint})`) : "");
        });
    }, 300);
}

/** Create: `lxcprov new ... --json-lines`, its phases and the template's output as they come. */
function create(ev) {
    ev.preventDefault();
    if ($("new-create").disabled) return;
    const { args, input } = newArgs();
    const name = args[1];
    $("new-create").disabled = true;
    $("new-progress").hidden = false;
    $("new-phases").replaceChildren();
    $("new-output").textContent = "";
    show("new-result", el("p", { role: "status" }, el("span", { class: "pf-c-spinner pf-m-md", role: "progressbar", "aria-label": "Working" },
        el("span", { class: "pf-c-spinner__clipper" }), el("span", { class: "pf-c-spinner__lead-ball" }), el("span", { class: "pf-c-spinner__tail-ball" })),
    ` Creating ${name}…`));
    let result = null;
    let buf = "";
    const proc = cockpit.spawn(["lxcprov", ...args, "--json-lines"], SPAWN);
    proc.stream(chunk => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (!line.trim()) continue;
            const ev = JSON.parse(line);
            if (ev.phase !== undefined) {
                for (const li of $("new-phases").children) li.classList.remove("lx-current");
                $("new-phases").append(el("li", { class: "lx-current" }, ev.phase));
            } else if (ev.output !== undefined) {
                const out = $("new-output");
                out.textContent = (out.textContent + ev.output + "\n").split("\n").slice(-200).join("\n");
                out.scrollTop = out.scrollHeight;
            } else if (ev.result !== undefined) {
                result = ev.result;
            }
        }
    });
    proc.then(() => {
        for (const li of $("new-phases").children) li.classList.remove("lx-current");
        const r = result || { name, state: "?" };
        show("new-result", alertBox("success", `${r.name} is ${r.state}`, [
            el("p", {}, el("a", { href: `#/container/${encodeURIComponent(r.name)}` }, `Open ${r.name}`)),
            r.root_password ? el("p", {}, "Root password (shown once, only its hash is stored): ",
                el("code", { class: "lx-code", "data-secret": "root-password" }, r.root_password)) : null,
        ]));
        formChanged();
    }, ex => {
        show("new-result", failureBox(failure(ex), `new ${name}`));
        formChanged();
    });
    proc.input(input);
}

/* ---------- Container: settings in place, doctor with Fix, the console ---------- */

const SETTINGS = [
    ["memory", "Memory limit"], ["swap", "Swap"], ["cpus", "CPUs"],
    ["autostart", "Autostart"], ["nesting", "Nesting (Docker, Podman inside)"], ["disk", "Disk limit"],
    ["hostname", "Host name"],
];
/** settings edited with a yes/no choice */
const YES_NO = ["autostart", "nesting"];
/** settings `set` reported as needing a restart, per container (until it is restarted here) */
const restart = {};

function renderState() {
    const r = (rows || []).find(x => x.name === current.name);
    const state = r ? r.state : (rows ? "gone" : "");
    $("ct-state").replaceWith(Object.assign(stateLabel(state), { id: "ct-state" }));
    $("ct-start").hidden = state === "RUNNING" || state === "gone";
    $("ct-stop").hidden = state !== "RUNNING";
    $("ct-destroy").hidden = state === "gone";
    syncUsage();
}

function loadSettings(name) {
    lxcprov(["show", name, "--json"]).then(data => {
        if (current.name !== name) return;
        const marks = restart[name] || {};
        $("ct-settings").replaceChildren(...SETTINGS.map(([key, label]) => el("div", { class: "pf-c-description-list__group", "data-setting": key },
            el("dt", { class: "pf-c-description-list__term" }, el("span", { class: "pf-c-description-list__text", id: `ct-label-${key}` }, label)),
            el("dd", { class: "pf-c-description-list__description" }, el("div", { class: "pf-c-description-list__text lx-edit" },
                el("span", { class: "lx-value" }, data.settings[key]),
                marks[key] ? el("span", { class: "pf-c-label pf-m-orange" }, el("span", { class: "pf-c-label__content" }, "needs restart")) : null,
                button("Edit", "link", ev => editSetting(name, key, label, data.settings[key], ev.target.closest("dd")), { "aria-label": `Edit ${label}` }))))));
    }, f => show("ct-alerts", failureBox(f, `show ${name}`)));
}

/** Edit in place: an input (Enter saves, Escape cancels), then `lxcprov set NAME KEY=VALUE --json`. */
function editSetting(name, key, label, value, dd) {
    const input = YES_NO.includes(key)
        ? el("select", { class: "pf-c-form-control", "aria-labelledby": `ct-label-${key}` }, el("option", { value: "yes" }, "yes"), el("option", { value: "no" }, "no"))
        : el("input", { class: "pf-c-form-control", type: "text", value: value === "-" ? "" : value, "aria-labelledby": `ct-label-${key}` });
    // show says a disk limit with its use ("64M (12M used)"): the field takes the limit alone
    input.value = value === "-" ? "" : value.replace(/ \(.*\)$/, "");
    const status = el("span", { role: "status" });
    const save = () => {
        status.textContent = "saving…";
        lxcprov(["set", name, `${key}=${input.value.trim()}`, "--json"]).then(results => {
            for (const r of results) {
                restart[name] = restart[name] || {};
                if (r.status === "needs restart") restart[name][r.setting] = true;
            }
            const said = results.map(r => `${r.setting} = ${r.value}: ${r.status}${r.detail ? ` (${r.detail})` : ""}`).join("; ");
            show("ct-alerts", alertBox(results.some(r => r.status === "needs restart") ? "warning" : "success", said,
                results.some(r => r.status === "needs restart") ? [el("p", {}, `Restart ${name} to apply: Stop, then Start.`)] : []));
            loadSettings(name);
        }, f => { status.replaceChildren(failureBox(f, `set ${key}`)); input.focus(); });
    };
    input.addEventListener("keydown", ev => {
        if (ev.key === "Enter") { ev.preventDefault(); save(); }
        if (ev.key === "Escape") loadSettings(name);
    });
    dd.replaceChildren(el("div", { class: "lx-edit" }, input,
        button("Save", "primary", save, { "aria-label": `Save ${label}` }),
        button("Cancel", "link", () => loadSettings(name)), status));
    input.focus();
}

function loadDoctor(name) {
    show("ct-doctor", el("p", { class: "lx-muted" }, "Checking…"));
    lxcprov(["doctor", name, "--json"], { okExits: [1] }).then(data => renderDoctor(name, data),
        f => show("ct-doctor", failureBox(f, `doctor ${name}`)));
}

function renderDoctor(name, data, report) {
    if (current.name !== name) return;
    const fixed = data.fix ? alertBox(data.fix.skipped.length ? "warning" : "success", "Fix applied", [
        ...data.fix.applied.map(l => el("p", {}, l)),
        ...data.fix.skipped.map(s => el("p", {}, `not fixed: ${s.id}: ${s.reason}`)),
        ...data.fix.notes.map(n => el("p", {}, n)),
    ]) : null;
    const findings = data.findings.map(f => {
        const secret = f.needs_secret ? el("input", { class: "pf-c-form-control lx-secret", type: "password", "aria-label": `Root password to fix: ${f.message}`, placeholder: "root password" }) : null;
        const fix = () => {
            const args = ["doctor", name, "--fix", "--only", f.id, "--json"];
            if (secret) args.push("--root-password-file", "/dev/stdin");
            show("ct-doctor", el("p", { class: "lx-muted" }, `Fixing ${f.id}…`));
            lxcprov(args, { okExits: [1], input: secret ? secret.value + "\n" : "" }).then(d => renderDoctor(name, d),
                e => { show("ct-doctor", failureBox(e, `fix ${f.id}`)); });
        };
        return el("div", { class: `lx-finding lx-${f.severity}`, "data-finding": f.id, role: "group", "aria-label": `${f.severity}: ${f.message}` },
            el("p", {}, el("span", { class: `pf-c-label pf-m-${{ error: "red", warning: "orange", info: "blue" }[f.severity]}` },
                el("span", { class: "pf-c-label__content" }, f.severity)), " ", el("strong", {}, f.message), " ", el("span", { class: "lx-muted" }, f.id)),
            el("p", {}, "Why: ", f.why),
            el("p", {}, "Fix: ", el("code", {}, f.fix)),
            f.fix_kind !== "manual" ? el("p", { class: "lx-edit" }, secret, button("Fix", "secondary", fix, { "aria-label": `Fix: ${f.message}` })) : null);
    });
    show("ct-doctor", fixed || "", findings.length ? el("div", {}, findings)
        : el("p", { "data-doctor": "ok" }, "Doctor finds no problems with ", name, "."));
}

/* ---------- Container: snapshots, host directories, published ports ---------- */

/** A table section: rows from `lxcprov ... --json`, an empty text when there are none. */
function fillTable(section, items, rowOf) {
    $(`ct-${section}-empty`).hidden = items.length > 0;
    $(`ct-${section}-table`).hidden = items.length === 0;
    $(`ct-${section}`).replaceChildren(...items.map(rowOf));
}

function size(bytes) {
    if (bytes >= 1073741824) return `${(bytes / 1073741824).toFixed(1)} GiB`;
    return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

function loadSnapshots(name) {
    lxcprov(["snapshots", name, "--json"]).then(list => {
        if (current.name !== name) return;
        fillTable("snaps", list, s => el("tr", { "data-snapshot": s.name },
            el("td", { "data-label": "Snapshot" }, s.name),
            el("td", { "data-label": "Taken" }, s.created),
            el("td", { "data-label": "Size" }, size(s.bytes)),
            el("td", { class: "pf-c-table__action" }, el("div", { class: "lx-row-actions" },
                button("Restore", "secondary", () => confirmRestore(name, s.name), { "aria-label": `Restore snapshot ${s.name}` }),
                button("Delete", "danger", () => confirmDeleteSnapshot(name, s.name), { "aria-label": `Delete snapshot ${s.name}` })))));
    }, f => show("ct-snaps-alerts", failureBox(f, `snapshots ${name}`)));
}

/** `lxcprov snapshot NAME [SNAP] --json`; a running container is frozen while copied. */
function takeSnapshot(ev) {
    ev.preventDefault();
    const name = current.name;
    const snap = $("ct-snap-name").value.trim();
    $("ct-snap-take").disabled = true;
    show("ct-snaps-alerts", alertBox("info", `Taking a snapshot of ${name}…`));
    lxcprov(["snapshot", name, ...(snap ? [snap] : []), "--json"]).then(s => {
        show("ct-snaps-alerts", alertBox("success", `Snapshot ${s.name} taken (${size(s.bytes)})`));
        $("ct-snap-name").value = "";
        loadSnapshots(name);
    }, f => show("ct-snaps-alerts", failureBox(f, "snapshot"))).finally(() => { $("ct-snap-take").disabled = false; });
}

function confirmRestore(name, snap) {
    confirmThen(`Restore ${name} to ${snap}?`,
        `${name}'s files go back to what they were in ${snap}: what changed since is lost. A running container is stopped first and started again afterwards.`,
        "Restore", () => {
            show("ct-snaps-alerts", alertBox("info", `Restoring ${name} to ${snap}…`));
            lxcprov(["restore", name, snap, "--stop", "--json"]).then(
                r => show("ct-snaps-alerts", alertBox("success", `${r.name} restored to ${r.snapshot}`, [
                    el("p", {}, r.restarted ? `${r.name} was stopped for it and runs again.`
                        : r.stopped ? `${r.name} was stopped for it and did not start again: ${(r.notes || []).join("; ")}`
                        : `Start ${r.name} when you want it.`)])),
                f => show("ct-snaps-alerts", failureBox(f, `restore ${snap}`)));
        });
}

function confirmDeleteSnapshot(name, snap) {
    confirmThen(`Delete snapshot ${snap}?`, `The snapshot ${snap} of ${name} is removed; ${name} itself is not touched.`,
        "Delete", () => lxcprov(["snapshot", "rm", name, snap, "--json"]).then(
            r => { show("ct-snaps-alerts", alertBox("success", `Snapshot ${r.removed} deleted`)); loadSnapshots(name); },
            f => show("ct-snaps-alerts", failureBox(f, `snapshot rm ${snap}`))));
}

/** What `mount`/`forward` add or rm said: changed, no change, needs restart (and why). */
function resultLine(r, what) {
    return `${what}: ${r.status}${r.detail ? ` (${r.detail})` : ""}`;
}

function loadMounts(name) {
    lxcprov(["mount", "ls", name, "--json"]).then(list => {
        if (current.name !== name) return;
        fillTable("mounts", list, m => el("tr", { "data-mount": m.target },
            el("td", { "data-label": "Host directory" }, m.source),
            el("td", { "data-label": "Inside" }, m.target),
            el("td", { "data-label": "Access" }, m.ro ? "read-only" : "read-write", m.idmap ? "" : ", not id-mapped"),
            el("td", { class: "pf-c-table__action" }, el("div", { class: "lx-row-actions" },
                button("Unmount", "secondary", () => lxcprov(["mount", "rm", name, m.target, "--json"]).then(
                    r => { show("ct-mounts-alerts", alertBox("success", resultLine(r, `${r.source} out of ${r.target}`))); loadMounts(name); },
                    f => show("ct-mounts-alerts", failureBox(f, `mount rm ${m.target}`))), { "aria-label": `Unmount ${m.target}` })))));
    }, f => show("ct-mounts-alerts", failureBox(f, `mount ls ${name}`)));
}

function addMount(ev) {
    ev.preventDefault();
    const name = current.name;
    const args = ["mount", "add", name, $("ct-mount-source").value.trim(), $("ct-mount-target").value.trim()];
    if ($("ct-mount-ro").checked) args.push("--ro");
    lxcprov([...args, "--json"]).then(r => {
        show("ct-mounts-alerts", alertBox(r.status === "needs restart" ? "warning" : "success",
            resultLine(r, `${r.source} at ${r.target}`)));
        $("ct-mount-source").value = $("ct-mount-target").value = "";
        loadMounts(name);
    }, f => show("ct-mounts-alerts", failureBox(f, "mount add")));
}

/** Host devices (`lxcprov device ls|add|rm NAME --json`): the CLI resolves a name, refuses
 *  what is no device, and says whether the running container has it at once. */
function loadDevices(name) {
    lxcprov(["device", "ls", name, "--json"]).then(list => {
        if (current.name !== name) return;
        fillTable("devices", list, d => el("tr", { "data-device": d.path },
            el("td", { "data-label": "Device" }, d.path),
            el("td", { "data-label": "Node" }, `${d.type} ${d.major}:${d.minor}, mode ${d.mode}`),
            el("td", { "data-label": "Owner inside" }, `${d.uid}:${d.gid}`),
            el("td", { "data-label": "On the host" }, d.on_host ? "yes" : "missing"),
            el("td", { class: "pf-c-table__action" }, el("div", { class: "lx-row-actions" },
                button("Remove", "secondary", () => lxcprov(["device", "rm", name, d.path, "--json"]).then(
                    rs => { show("ct-devices-alerts", alertBox(rs.some(r => r.status === "needs restart") ? "warning" : "success", rs.map(r => resultLine(r, `${r.path} removed`)).join("; "))); loadDevices(name); },
                    f => show("ct-devices-alerts", failureBox(f, `device rm ${d.path}`))), { "aria-label": `Remove ${d.path}` })))));
    }, f => show("ct-devices-alerts", failureBox(f, `device ls ${name}`)));
}

function addDevice(ev) {
    ev.preventDefault();
    const name = current.name;
    lxcprov(["device", "add", name, $("ct-device-spec").value.trim(), "--json"]).then(rs => {
        show("ct-devices-alerts", alertBox(rs.some(r => r.status === "needs restart") ? "warning" : "success",
            rs.map(r => resultLine(r, r.given ? `${r.given} (${r.path})` : r.path)).join("; ")));
        $("ct-device-spec").value = "";
        loadDevices(name);
    }, f => show("ct-devices-alerts", failureBox(f, "device add")));
}

function hostPort(f) { return `${f.host_addr ? `${f.host_addr}:` : ""}${f.host_port}`; }

function loadPorts(name) {
    lxcprov(["forward", "ls", name, "--json"]).then(list => {
        if (current.name !== name) return;
        fillTable("ports", list, f => el("tr", { "data-port": `${hostPort(f)}/${f.proto}` },
            el("td", { "data-label": "Host port" }, hostPort(f)),
            el("td", { "data-label": "Container port" }, f.container_port),
            el("td", { "data-label": "Protocol" }, f.proto),
            el("td", { class: "pf-c-table__action" }, el("div", { class: "lx-row-actions" },
                button("Unpublish", "secondary", () => lxcprov(["forward", "rm", name, hostPort(f), ...(f.proto === "udp" ? ["--udp"] : []), "--json"]).then(
                    rs => { show("ct-ports-alerts", alertBox("success", rs.map(r => resultLine(r, `${hostPort(r)}/${r.proto}`)).join("; "))); loadPorts(name); },
                    e => show("ct-ports-alerts", failureBox(e, `forward rm ${hostPort(f)}`))), { "aria-label": `Unpublish ${hostPort(f)}/${f.proto}` })))));
    }, f => show("ct-ports-alerts", failureBox(f, `forward ls ${name}`)));
}

function addPort(ev) {
    ev.preventDefault();
    const name = current.name;
    const args = ["forward", "add", name, $("ct-port-host").value.trim()];
    if ($("ct-port-container").value.trim()) args.push($("ct-port-container").value.trim());
    if ($("ct-port-udp").checked) args.push("--udp");
    lxcprov([...args, "--json"]).then(rs => {
        show("ct-ports-alerts", alertBox(rs.some(r => r.status === "needs restart") ? "warning" : "success",
            rs.map(r => resultLine(r, `${hostPort(r)}/${r.proto} -> ${r.container_port}`)).join("; ")));
        $("ct-port-host").value = $("ct-port-container").value = "";
        loadPorts(name);
    }, f => show("ct-ports-alerts", failureBox(f, "forward add")));
}

let term = null;
let consoleChannel = null;
let consoleName = null;

/** The console: a pty running `lxcprov console NAME` (lxc-console on its login tty) in xterm.js. */
function openConsole(name) {
    if (consoleChannel) return;
    if (!term) {
        term = new Terminal({ cols: 80, rows: 24, fontSize: 14, screenReaderMode: true,
            fontFamily: "RedHatMono, 'Liberation Mono', monospace" });
        term.open($("ct-terminal"));
        term.onData(data => consoleChannel && consoleChannel.send(data));
        // Tab belongs to the container's shell while connected; otherwise it moves the focus on.
        term.attachCustomKeyEventHandler(ev => !(ev.key === "Tab" && !consoleChannel));
    }
    consoleName = name;
    $("ct-console-state").textContent = "connecting…";
    consoleChannel = cockpit.channel({
        payload: "stream", spawn: ["lxcprov", "console", name], pty: true, superuser: "try",
        environ: ["TERM=xterm-256color"], window: { rows: term.rows, cols: term.cols },
    });
    consoleChannel.addEventListener("ready", () => {
        $("ct-console-state").textContent = `connected to ${name} (Ctrl-a q detaches)`;
        $("ct-console-close").hidden = false;
    });
    consoleChannel.addEventListener("message", (ev, data) => term.write(data));
    consoleChannel.addEventListener("close", (ev, options) => {
        $("ct-console-state").textContent = "disconnected" + (options && options.problem ? `: ${cockpit.message(options)}` : "");
        $("ct-console-close").hidden = true;
        consoleChannel = null;
    });
    term.focus();
}

function closeConsole() {
    if (consoleChannel) consoleChannel.close();
}

function enterContainer(name) {
    const again = current.name === name;
    current.name = name;
    $("ct-title").textContent = name;
    if (!again) {
        for (const id of ["ct-alerts", "ct-snaps-alerts", "ct-mounts-alerts", "ct-ports-alerts", "ct-devices-alerts"]) $(id).replaceChildren();
        closeConsole();
        if (term) { term.dispose(); term = null; }
        $("ct-console-state").textContent = "";
    }
    renderState();
    loadSettings(name);
    loadDoctor(name);
    loadSnapshots(name);
    loadMounts(name);
    loadPorts(name);
    loadDevices(name);
}

/* ---------- usage: `lxcprov stats --json --watch`, one long-running process per page ---------- */

/** After a stats process ended by itself (it never should), start another this much later. */
const STATS_RETRY_MS = 5000;
/** How far back the container page's graphs reach. */
const HISTORY_MS = 5 * 60 * 1000;
/** The graphs' SVG coordinates (index.html's viewBox; stretched to the page's width). */
const GRAPH_W = 600;
const GRAPH_H = 120;

/** onLine(line) for each complete line a long-running spawn prints; a partial line waits. */
function eachLine(proc, onLine) {
    let buf = "";
    proc.stream(chunk => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (line.trim()) onLine(line);
        }
    });
}

/** A size or a percentage lxcprov printed: a finite number, not negative; anything else
 *  (null: not known; or garbage) is shown as not known. */
function num(v) { return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null; }

function field(obj, key) {
    const v = obj && typeof obj === "object" ? obj[key] : undefined;
    return v && typeof v === "object" ? v : {};
}

/** One line of `stats --json --watch`: its objects by name. Not a JSON list: throws. */
function parseStats(line) {
    const list = JSON.parse(line);
    if (!Array.isArray(list)) throw new Error("not a JSON list");
    const byName = new Map();
    for (const s of list) {
        if (s && typeof s === "object" && typeof s.name === "string") byName.set(s.name, s);
    }
    return byName;
}

/**
 * One `lxcprov stats --json --watch ARGS` until stop(): onSample(objects by name) per line.
 * A line that is not its JSON list is skipped and said in `alerts`; if the process ends
 * (killed, or lxcprov failed) that is said there too and another starts STATS_RETRY_MS later.
 */
function statsWatch(args, alerts, onSample) {
    const w = { proc: null, timer: null, stopped: false };
    const ended = (proc, ex) => {
        if (w.proc !== proc || w.stopped) return;  // stopped on purpose
        w.proc = null;
        const f = ex ? failure(ex) : { message: "lxcprov stats ended", hint: "", details: [] };
        show(alerts, failureBox(f, `Usage is not live (again in ${STATS_RETRY_MS / 1000} s)`));
        w.timer = setTimeout(start, STATS_RETRY_MS);
    };
    const start = () => {
        w.timer = null;
        const proc = cockpit.spawn(["lxcprov", "stats", "--json", "--watch", ...args], SPAWN);
        w.proc = proc;
        eachLine(proc, line => { if (w.proc === proc) w.line(line); });
        proc.then(() => ended(proc, null), ex => ended(proc, ex));
    };
    /** A line of the process (the browser test hands it hostile ones too). */
    w.line = line => {
        let sample;
        try {
            sample = parseStats(line);
        } catch (e) {
            show(alerts, alertBox("warning", "lxcprov stats printed a line that is not its JSON list: skipped",
                [el("p", {}, String(e))]));
            return;
        }
        $(alerts).replaceChildren();
        onSample(sample);
    };
    w.stop = () => {
        w.stopped = true;
        clearTimeout(w.timer);
        const proc = w.proc;
        w.proc = null;
        if (proc) proc.close("terminated");
    };
    start();
    return w;
}

/* The list: used memory per row, from one `stats --json --watch --interval 5 --no-disk` (every
   container) while the list is shown, merged by name into the rows `ls --watch` gives. */

let listStats = null;
/** @type {Map<string, any>} the list's last stats line, by name */
let listSample = new Map();

function usedText(name) {
    const used = num(field(listSample.get(name), "memory").used);
    return used === null ? "-" : size(used);
}

function fillUsed() {
    for (const tr of $("list-rows").children) {
        const td = tr.querySelector('td[data-label="Memory used"]');
        if (td) td.textContent = usedText(tr.dataset.name);
    }
}

function syncListStats() {
    const want = current.page === "list" && !cockpit.hidden;
    if (want && !listStats) {
        listStats = statsWatch(["--interval", "5", "--no-disk"], "list-usage-alerts", sample => { listSample = sample; fillUsed(); });
    } else if (!want && listStats) {
        listStats.stop();
        listStats = null;
        listSample = new Map();
        $("list-usage-alerts").replaceChildren();
    }
}

/* The container page: CPU and memory over the last minutes, from one `stats --json --watch
   --interval 2 NAME` while the page shows a running container. The process follows the
   state `ls --watch` gives: started when it runs, closed when it stops, when another
   container is shown or the page is left (for another of ours, or another of Cockpit's:
   the shell keeps our frame, hidden, and says so through cockpit.hidden). */

const usage = { key: "", watch: null, points: [], state: null };

function syncUsage() {
    const name = current.page === "container" && !cockpit.hidden ? current.name : "";
    const r = name && rows ? rows.find(x => x.name === name) : null;
    const key = r && (r.state === "RUNNING" || r.state === "FROZEN") ? name : "";
    if (usage.key !== key) {
        if (usage.watch) usage.watch.stop();
        Object.assign(usage, { key, watch: null, points: [], state: null });
        $("ct-usage-alerts").replaceChildren();
        if (key) usage.watch = statsWatch(["--interval", "2", key], "ct-usage-alerts", sample => addPoint(key, sample));
    }
    if (name) renderUsage(r ? r.state : (rows ? "gone" : null));
}

function addPoint(name, sample) {
    if (usage.key !== name) return;
    const s = sample.get(name);
    usage.state = s && typeof s.state === "string" ? s.state : "gone";
    if (s) {
        const memory = field(s, "memory");
        const t = Date.now();
        usage.points.push({ t, cpu: num(field(s, "cpu").percent), used: num(memory.used), limit: num(memory.limit) });
        while (usage.points[0].t < t - HISTORY_MS) usage.points.shift();
    }
    renderUsage(usage.state);
}

/** Not running (as `ls`, or the stream's last line, says): a line of text instead of the
 *  graphs. state: what `ls` says (null: not known yet). */
function renderUsage(state) {
    const said = usage.key ? (usage.state || "RUNNING") : state;
    const live = usage.key !== "" && (said === "RUNNING" || said === "FROZEN");
    $("ct-usage-graphs").hidden = !live;
    $("ct-usage-off").hidden = live || !said;
    if (!live) {
        $("ct-usage-off").textContent = said === "gone" ? "This container is gone: nothing to measure."
            : `Not running (${said}): no CPU or memory to show.`;
        return;
    }
    const now = usage.points.length ? usage.points[usage.points.length - 1].t : Date.now();
    const cpu = usage.points.filter(p => p.cpu !== null).map(p => ({ t: p.t, v: p.cpu }));
    const mem = usage.points.filter(p => p.used !== null).map(p => ({ t: p.t, v: p.used }));
    const last = usage.points.length ? usage.points[usage.points.length - 1] : null;
    const limit = last ? last.limit : null;

    // CPU: % of one core, so a scale of 100% per busy core.
    const cpuTop = Math.max(100, Math.ceil(Math.max(0, ...cpu.map(p => p.v)) / 100) * 100);
    plot("ct-cpu-graph", cpu, cpuTop, now);
    $("ct-cpu-now").textContent = cpu.length ? `${cpu[cpu.length - 1].v.toFixed(1)}%` : "measuring…";
    $("ct-cpu-top").textContent = `${cpuTop}%`;

    // Memory: the limit (a dashed line) at 4/5 of the height when there is one (clear of
    // the scale's label in the corner), else the next power of two above the most used.
    const most = Math.max(0, ...mem.map(p => p.v));
    const memTop = limit !== null && limit >= most ? limit * 1.25 : 2 ** Math.ceil(Math.log2(Math.max(most * 1.1, 1048576)));
    plot("ct-mem-graph", mem, memTop, now);
    $("ct-mem-now").textContent = mem.length ? size(mem[mem.length - 1].v) : "measuring…";
    $("ct-mem-of").textContent = limit !== null ? `used, of a ${size(limit)} limit` : "used (no limit)";
    $("ct-mem-top").textContent = size(memTop);
    const line = $("ct-mem-graph").querySelector(".lx-graph-limit");
    line.setAttribute("visibility", limit !== null ? "visible" : "hidden");
    if (limit !== null) for (const a of ["y1", "y2"]) line.setAttribute(a, graphY(limit, memTop).toFixed(1));
}

function graphY(v, top) { return GRAPH_H - Math.min(v, top) / top * GRAPH_H; }

/** points [{t, v}] as the figure's line and the area under it: x is time (the last
 *  HISTORY_MS up to now), y the value from 0 to top. */
function plot(figure, points, top, now) {
    const xy = points.map(p => `${((p.t - now + HISTORY_MS) / HISTORY_MS * GRAPH_W).toFixed(1)},${graphY(p.v, top).toFixed(1)}`);
    const svg = $(figure).querySelector("svg");
    svg.querySelector(".lx-graph-line").setAttribute("points", xy.join(" "));
    const area = xy.length < 2 ? [] : [`${xy[0].split(",")[0]},${GRAPH_H}`, ...xy, `${xy[xy.length - 1].split(",")[0]},${GRAPH_H}`];
    svg.querySelector(".lx-graph-area").setAttribute("points", area.join(" "));
}

cockpit.addEventListener("visibilitychange", () => { syncUsage(); syncListStats(); });
window.addEventListener("unload", () => {
    if (usage.watch) usage.watch.stop();
    if (listStats) listStats.stop();
});

/* ---------- Network: net status, net setup ---------- */

function dlItem(label, ...value) {
    return el("div", { class: "pf-c-description-list__group" },
        el("dt", { class: "pf-c-description-list__term" }, el("span", { class: "pf-c-description-list__text" }, label)),
        el("dd", { class: "pf-c-description-list__description" }, el("div", { class: "pf-c-description-list__text" }, ...value)));
}

function loadNetwork(bridge) {
    const args = ["net", "status", "--json"];
    if (bridge) args.push("--bridge", bridge);
    lxcprov(args).then(s => {
        const range = r => r ? `${r[0]} - ${r[1]}` : "-";
        $("net-status").replaceChildren(
            dlItem("Bridge", s.bridge, s.default ? " (default)" : "", s.configured ? ", set up by lxcprov" : ", not set up by lxcprov"),
            dlItem("State", s.exists ? (s.up ? "up" : "down") : "does not exist"),
            dlItem("Addresses", s.addresses.join(", ") || "-"),
            dlItem("DHCP range", range(s.dhcp_range)),
            dlItem("Static range", range(s.static_range)),
            dlItem("DHCP and DNS", s.dnsmasq.alive ? `dnsmasq, pid ${s.dnsmasq.pid}${s.dnsmasq.dns ? "" : " (DHCP only)"}` : "not running"),
            dlItem("NAT", s.nat_table ? `yes${s.uplink ? `, out of ${s.uplink}` : ""}` : "no"),
            dlItem("IPv4 forwarding", yesNo(s.ip_forward)));
        show("net-alerts", ...s.warnings.map(w => alertBox("warning", w)),
            ...(s.pending.length ? [alertBox("info", "Out of date: net setup would", s.pending.map(p => el("p", {}, p)))] : []));
        $("net-leases-section").hidden = s.leases.length === 0;
        $("net-leases").replaceChildren(...s.leases.map(l => el("tr", {},
            el("td", {}, l.hostname || "-"), el("td", {}, l.mac),
            el("td", {}, l.ipv4), el("td", {}, l.expiry || "never"))));
        if (!$("net-bridge").value) $("net-bridge").placeholder = s.bridge;
    }, f => show("net-alerts", failureBox(f, "net status")));
}

function netSetup(ev) {
    ev.preventDefault();
    const args = ["net", "setup"];
    const bridge = $("net-bridge").value.trim();
    if (bridge) args.push("--bridge", bridge);
    if ($("net-address").value.trim()) args.push("--address", $("net-address").value.trim());
    args.push($("net-dhcp").checked ? "--dhcp" : "--no-dhcp", $("net-nat").checked ? "--nat" : "--no-nat", "--json");
    $("net-setup").disabled = true;
    show("net-result", el("p", { class: "lx-muted", role: "status" }, "Setting up…"));
    lxcprov(args).then(r => {
        show("net-result", alertBox("success", `${r.bridge} ${r.address}: ${r.changed ? "set up" : "already set up"}`,
            [...r.actions.map(a => el("p", {}, a)), ...r.notes.map(n => el("p", {}, n))]));
        loadNetwork(r.bridge);
    }, f => show("net-result", failureBox(f, "net setup"))).finally(() => { $("net-setup").disabled = false; });
}

/* ---------- pages ---------- */

const current = { page: "", name: "" };

function route() {
    const path = cockpit.location.path;
    const page = path[0] === "new" ? "new" : path[0] === "network" ? "network"
        : (path[0] === "container" && path[1]) ? "container" : "list";
    const entering = page !== current.page;
    current.page = page;
    for (const p of ["list", "new", "container", "network"]) $(`page-${p}`).hidden = p !== page;
    for (const li of document.querySelectorAll(".pf-c-tabs__item")) {
        const on = li.dataset.page === page;
        li.classList.toggle("pf-m-current", on);
        const a = li.querySelector("a");
        if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    if (page === "new" && entering) { loadTemplates(); formChanged(); }
    if (page === "network" && entering) loadNetwork();
    if (page === "container") enterContainer(path[1]);
    else if (consoleChannel) closeConsole();
    if (page !== "container") { current.name = ""; syncUsage(); }
    syncListStats();
    if (page === "list") renderRows();
}

document.addEventListener("DOMContentLoaded", () => {
    $("new-form").addEventListener("input", formChanged);
    $("new-form").addEventListener("change", ev => { if (ev.target.id === "new-template") templateChanged(); });
    $("new-form").addEventListener("submit", create);
    $("net-form").addEventListener("submit", netSetup);
    $("ct-start").addEventListener("click", () => lifecycle("start", current.name, "ct-alerts").then(() => { delete restart[current.name]; loadSettings(current.name); }));
    $("ct-stop").addEventListener("click", () => lifecycle("stop", current.name, "ct-alerts"));
    $("ct-destroy").addEventListener("click", () => confirmDestroy(current.name));
    $("ct-console-open").addEventListener("click", () => openConsole(current.name));
    $("ct-console-close").addEventListener("click", closeConsole);
    $("ct-snap-form").addEventListener("submit", takeSnapshot);
    $("ct-mount-form").addEventListener("submit", addMount);
    $("ct-port-form").addEventListener("submit", addPort);
    $("ct-device-form").addEventListener("submit", addDevice);
    $("confirm-ok").addEventListener("click", doConfirmed);
    $("confirm-cancel").addEventListener("click", closeConfirm);
    $("confirm-dialog").addEventListener("keydown", ev => {
        if (ev.key === "Escape") closeConfirm();
        if (ev.key === "Tab") {  // keep the focus inside the dialog
            const first = $("confirm-ok");
            const last = $("confirm-cancel");
            if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
            else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
        }
    });
    cockpit.addEventListener("locationchanged", route);
    route();
    watch();
});
