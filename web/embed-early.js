// The embed page's first script (classic and synchronous, first in <head>, and put into the
// page by the build, wasm/tools/bundle.mjs, so that it runs as soon as the page's first bytes
// are parsed, with no request of its own; its CSP hash goes with the page): starts what the SDK
// (its module and the wasm core), which is most of a load's time, would otherwise start only
// once it has loaded (DESIGN §14): the resume's first requests, and the wasm's compile.
//
//
// They are the requests the core asked for at the end of this very page's last load (the same
// address, so the same parameters and identity: the SDK's resumeRequests(), which embed-app.js
// keeps in localStorage as what fetch() was given). The core still decides: resume() uses a
// reply only for the request it asks for this time, sent exactly as it would send it, and drops
// the others unread. No stored plan, or one made for another address: nothing is sent.
// embed-app.js finds what was sent in self.parleyEarly.
(function () {
  var sent = [];
  try {
    var plan = JSON.parse(localStorage.getItem('parley.early'));
    if (plan && plan.v === 1 && plan.page === location.href.split('#')[0] && Array.isArray(plan.requests)) {
      plan.requests.forEach(function (r) {
        if (!r || !r.init || r.init.method !== 'GET' || new URL(r.url).origin !== location.origin) return;
        var response = fetch(r.url, r.init);
        response.catch(function () {});  // one that is not used may fail unobserved
        sent.push({ key: r.key, url: r.url, init: r.init, response: response });
      });
    }
  } catch (e) {
    // No localStorage (a blocked third-party iframe), or nothing usable in it: nothing early.
  }
  self.parleyEarly = sent;

  // The core's wasm, compiled from its first bytes on while the page's modules load (the
  // SDK's core.mjs instantiates this compile when it is of its own file, and compiles the
  // file itself otherwise).
  try {
    var url = new URL('/sdk/parley-core.wasm', location.href).href;
    var module = WebAssembly.compileStreaming(fetch(url, { credentials: 'same-origin' }));
    module.catch(function () {});  // core.mjs compiles it again and says why
    self.parleyCore = { url: url, module: module };
  } catch (e) {
    // No streaming compile here: core.mjs loads the wasm itself.
  }
  performance.mark('parley:early-sent');
})();
