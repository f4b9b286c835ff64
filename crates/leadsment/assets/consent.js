/* Leadsment consent manager: asks /api/consent/rule what this visitor's banner does, shows it,
   sends the choice to /api/consent (which logs it and sets lm_consent), and only then loads
   the tags the server lists as granted. Docs: docs/consent.md. */
(function (w, d) {
  var me = d.currentScript, nonce = me && me.nonce, nav = w.navigator, rule, box, loaded = {},
    gpc = nav.globalPrivacyControl === true, gtagSet = 0, lastFocus;
  // Tags never load where customers' leads are shown.
  if (/^\/(app|w|auth|admin|account)(\/|$)/.test(w.location.pathname)) return;

  function el(tag, attrs, kids) {
    var e = d.createElement(tag), k;
    for (k in attrs || {}) {
      if (k == "text") e.textContent = attrs[k];
      else if (k.slice(0, 2) == "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { c && e.appendChild(c); });
    return e;
  }
  function api(path, body) {
    return fetch(path, body ? {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    } : { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw j; return j; });
    });
  }
  function script(src) {
    var s = el("script", { src: src, async: "" });
    d.head.appendChild(s);
  }
  function granted(cat) { return (rule.granted || []).indexOf(cat) >= 0; }

  // Google's and Microsoft's consent signals: denied until the visitor's choice says otherwise.
  function signals() {
    var an = granted("analytics") ? "granted" : "denied", ad = granted("advertising") ? "granted" : "denied";
    if (w.gtag) w.gtag("consent", "update", { analytics_storage: an, ad_storage: ad, ad_user_data: ad, ad_personalization: ad });
    if (w.clarity) w.clarity("consentv2", { analytics_Storage: an, ad_Storage: ad });
  }
  function gtagDefaults() {
    if (gtagSet++) return;
    w.dataLayer = w.dataLayer || [];
    w.gtag = function () { w.dataLayer.push(arguments); };
    w.gtag("consent", "default", { analytics_storage: "denied", ad_storage: "denied", ad_user_data: "denied", ad_personalization: "denied" });
  }
  var loaders = {
    ga4: function (id) {
      gtagDefaults(); signals();
      w.gtag("js", new Date()); w.gtag("config", id);
      script("https://www.googletagmanager.com/gtag/js?id=" + encodeURIComponent(id));
    },
    linkedin: function (id) {
      w._linkedin_partner_id = id;
      (w._linkedin_data_partner_ids = w._linkedin_data_partner_ids || []).push(id);
      script("https://snap.licdn.com/li.lms-analytics/insight.min.js");
    },
    clarity: function (id) {
      w.clarity = w.clarity || function () { (w.clarity.q = w.clarity.q || []).push(arguments); };
      signals();
      script("https://www.clarity.ms/tag/" + encodeURIComponent(id));
    },
    pixel: function (url) { new Image().src = url; },
    custom: function (url) { script(url); }
  };
  // Loads what the server listed as granted, once each per page.
  function load() {
    (rule.load || []).forEach(function (t) {
      if (!loaded[t.id] && granted(t.category) && loaders[t.kind]) {
        loaded[t.id] = 1;
        loaders[t.kind](t.target);
      }
    });
    signals();
  }

  // Withdrawn categories: their cookies on this host and every parent domain, and their
  // storage keys. (HttpOnly cookies are cleared by the server's answer.)
  function clear(cats) {
    var host = w.location.hostname.split("."), domains = [""], i,
      secure = w.location.protocol == "https:" ? "; Secure" : "";
    for (i = 0; i < host.length - 1; i++) domains.push("; domain=" + host.slice(i).join("."));
    rule.categories.forEach(function (c) {
      if (cats.indexOf(c.id) < 0) return;
      c.keys.forEach(function (k) {
        var star = k.name.slice(-1) == "*", stem = star ? k.name.slice(0, -1) : k.name,
          hit = function (n) { return star ? n.indexOf(stem) == 0 : n == stem; };
        if (k.storage == "cookie") {
          d.cookie.split(";").forEach(function (p) {
            var n = p.split("=")[0].trim();
            if (hit(n)) domains.forEach(function (dm) {
              d.cookie = n + "=; Max-Age=0; path=/" + dm + secure;
            });
          });
        } else {
          var s = k.storage == "local_storage" ? w.localStorage : w.sessionStorage;
          try {
            Object.keys(s).forEach(function (n) { if (hit(n)) s.removeItem(n); });
          } catch (e) { /* storage blocked: nothing of ours is there */ }
        }
      });
    });
  }

  function notGranted() {
    return ["analytics", "advertising"].filter(function (c) { return !granted(c); });
  }
  function choose(action, cats) {
    var before = rule.granted || [], layer = box && box.getAttribute("data-layer");
    api("/api/consent", { action: action, categories: cats, revision: rule.revision, banner: rule.banner, gpc: gpc })
      .then(function (a) {
        var gone = before.filter(function (c) { return a.categories.indexOf(c) < 0; });
        rule.granted = a.categories; rule.load = a.load; rule.ask = false;
        close();
        if (gone.length) {
          // Tags still on the page are told first, so they write nothing more.
          signals(); clear(notGranted()); w.location.reload();
        } else load();
      }, function (e) {
        // The policy changed while the banner was open: the visitor chooses again on it.
        if (e && e.field == "revision") start(layer);
        else if (box) say(e && e.error == "rate_limited" ? e.message : "Your choice could not be saved. Please try again.");
      });
  }

  // The banner. Reject and Accept share one class: the same size, colours and weight.
  function btn(text, fn, cls) { return el("button", { type: "button", "class": cls || "lm-b", text: text, onclick: fn }); }
  function say(text) { var p = box.querySelector(".lm-err"); if (p) p.textContent = text; }
  function close() {
    if (!box) return;
    box.remove(); box = null; d.body.style.paddingBottom = "";
    if (lastFocus && lastFocus.focus) lastFocus.focus();
  }
  function show(kids, label) {
    if (!box) {
      lastFocus = d.activeElement;
      box = el("div", { id: "lm-consent", role: "dialog", "aria-modal": "false", "aria-labelledby": "lm-t" });
      box.addEventListener("keydown", function (e) {
        if (e.key == "Escape" && box.getAttribute("data-layer") == "2") {
          e.preventDefault();
          rule.ask ? first() : close();
        }
      });
      d.body.appendChild(box);
    }
    box.textContent = "";
    box.setAttribute("data-layer", label);
    kids.concat(el("p", { "class": "lm-err", role: "status" })).forEach(function (k) { k && box.appendChild(k); });
    // The page stays readable: it can scroll past the banner.
    d.body.style.paddingBottom = box.offsetHeight + "px";
    var h = box.querySelector("h2"); h.focus();
  }
  function gpcNote() {
    return gpc ? el("p", { "class": "lm-gpc", text: "Your browser sends a Global Privacy Control signal: advertising stays off." }) : null;
  }
  function policyLink() { return el("a", { href: "/legal/cookies", text: "Cookie Policy" }); }
  function first() {
    var notice = rule.mode == "notice";
    show([
      el("h2", { id: "lm-t", tabindex: "-1", text: "Cookies on this site" }),
      el("p", { text: notice
        ? "This site uses cookies for analytics and advertising. You can refuse them or choose which to allow. "
        : "We would like to use cookies for analytics and advertising. They stay off unless you accept them. " }, [policyLink()]),
      gpcNote(),
      el("div", { "class": "lm-row" }, [
        btn("Reject all", function () { choose("reject_all"); }),
        btn("Accept all", function () { choose("accept_all"); }),
        btn("Customise", second, "lm-link")
      ])
    ], "1");
  }
  function second() {
    var boxes = {};
    var cats = rule.categories.map(function (c) {
      var on = c.choice ? !!rule.consent && granted(c.id) : true,
        input = el("input", { type: "checkbox", id: "lm-c-" + c.id, role: "switch" }),
        items = c.tags.map(function (t) { return el("li", { text: t.label }); }).concat(c.keys.map(function (k) {
          return el("li", {}, [el("code", { text: k.name }), d.createTextNode(": " + k.purpose + " (" + k.duration + ", " + k.party + " party" + (k.provider ? ", " + k.provider : "") + ")")]);
        }));
      input.checked = on; input.disabled = !c.choice;
      if (c.id == "advertising" && gpc) { input.checked = false; input.disabled = true; }
      boxes[c.id] = input;
      return el("div", { "class": "lm-cat" }, [
        el("label", { "for": input.id }, [input, d.createTextNode(" " + c.title + (c.choice ? "" : " (always on)"))]),
        el("details", {}, [el("summary", { text: "What it sets" }), el("ul", {}, items.length ? items : [el("li", { text: "Nothing at present." })])])
      ]);
    });
    show([
      el("h2", { id: "lm-t", tabindex: "-1", text: "Cookie preferences" }),
      el("p", { text: "Choose what this site may use. Strictly necessary cookies keep the site working and need no consent. " }, [policyLink()]),
      gpcNote()
    ].concat(cats, [el("div", { "class": "lm-row" }, [
      btn("Reject all", function () { choose("reject_all"); }),
      btn("Accept all", function () { choose("accept_all"); }),
      btn("Save choices", function () {
        choose("save", ["analytics", "advertising"].filter(function (c) { return boxes[c].checked; }));
      }, "lm-link")
    ])]), "2");
  }

  function style() {
    var s = el("style", nonce ? { nonce: nonce } : {});
    s.textContent = "#lm-consent{position:fixed;left:0;right:0;bottom:0;z-index:2147483647;max-height:60vh;overflow:auto;" +
      "box-sizing:border-box;padding:1rem max(1rem,calc(50% - 24rem));background:#fff;color:#1a1a2e;border-top:1px solid #c8cbd4;" +
      "box-shadow:0 -4px 16px rgba(0,0,0,.12);font:1rem/1.45 system-ui,sans-serif}" +
      "#lm-consent h2{font-size:1.1rem;margin:0 0 .4rem}#lm-consent p{margin:.3rem 0}#lm-consent a{color:#1d4ed8}" +
      ".lm-row{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.5rem;margin-top:.6rem}" +
      ".lm-b{min-height:2.75rem;padding:.5rem 1rem;font:inherit;font-weight:600;color:#fff;background:#1d4ed8;" +
      "border:2px solid #1d4ed8;border-radius:6px;cursor:pointer}" +
      ".lm-link{min-height:2.75rem;font:inherit;color:#1d4ed8;background:none;border:2px solid #c8cbd4;border-radius:6px;cursor:pointer}" +
      "#lm-consent :focus-visible,#lm-consent h2:focus{outline:3px solid #f59e0b;outline-offset:2px}" +
      ".lm-cat{border-top:1px solid #e3e5ea;padding:.5rem 0}.lm-cat label{font-weight:600}.lm-cat input{width:1.1rem;height:1.1rem}" +
      ".lm-cat ul{margin:.3rem 0;padding-left:1.2rem;font-size:.9rem}.lm-err:empty{display:none}.lm-err{color:#b91c1c}";
    d.head.appendChild(s);
  }

  function start(layer) {
    api("/api/consent/rule").then(function (r) {
      rule = r;
      gpc = gpc || r.gpc;
      rule.granted = r.consent ? r.consent.categories : r.mode == "opt_in" ? [] : ["analytics", "advertising"];
      if (gpc) rule.granted = rule.granted.filter(function (c) { return c != "advertising"; });
      // Whatever is not granted now (withdrawn, expired, refused by GPC) leaves no key behind.
      clear(notGranted());
      if (r.categories.some(function (c) { return c.tags.some(function (t) { return t.kind == "ga4"; }); })) gtagDefaults();
      if (r.ask) first(); else close();
      load();
      if (layer) {
        layer == "2" ? second() : first();
        say("The cookie policy changed while you were choosing. Please choose again.");
      } else if (w.location.hash == "#cookie-settings") second();
    }, function () { /* no rule: no banner, and nothing loads */ });
  }

  style();
  // "Cookie Settings" links reopen the preferences, on every page that has this script.
  d.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("[data-cookie-settings]");
    if (a && rule) { e.preventDefault(); second(); }
  });
  start();
})(window, document);
