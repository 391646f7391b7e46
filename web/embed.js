// Parley's loader. Paste where the widget should appear:
//   <script src="https://HOST/embed.js" data-agent-id="AGENT" data-public-key="KEY"
//           data-user-name="Ada" data-plan="premium"></script>
// It inserts the widget's iframe (allow="microphone") right after the script element, with
// every data attribute as a URL parameter: data-agent-id -> id, data-public-key -> k,
// data-session-id -> sessionID, data-integration-id -> integrationID, and any other
// data-foo-bar -> fooBar (metadata for the agent). The widget checks them all (the core's
// rules) and says what is wrong.
//
// Who the visitor is: the widget resumes a remembered conversation only for the same identity
// metadata (by default userId, user_id, userName, userEmail, email, phone; data-identity-keys=
// "customerId,email" names others). data-session-id opens that session for this load only.
// A site's logout: data-logout on the page the logout leads to, or window.Parley.logout(
// integrationId?) on the page: the widget forgets the remembered session and starts anew.
//
// window.Parley.getState(integrationId?) returns the widget's latest state ({sessionID, ...}),
// kept current by postMessage from the iframe; messages are accepted only from the iframe's
// own window at the widget's origin, and the widget sends them only to this page's origin.
(function () {
  var script = document.currentScript;
  if (!script || !script.src) return;
  var widgetOrigin = new URL(script.src, location.href).origin;
  var reserved = { agentId: 'id', publicKey: 'k', sessionId: 'sessionID', integrationId: 'integrationID' };
  var params = new URLSearchParams();
  var data = script.dataset;
  ['agentId', 'publicKey', 'sessionId', 'integrationId'].forEach(function (key) {
    if (data[key] !== undefined) params.append(reserved[key], data[key]);
  });
  Object.keys(data).forEach(function (key) {
    if (!reserved[key]) params.append(key, data[key]);
  });

  var iframe = document.createElement('iframe');
  iframe.src = widgetOrigin + '/embed?' + params.toString() + '#origin=' + encodeURIComponent(location.origin);
  iframe.allow = 'microphone; autoplay';
  iframe.title = 'Chat with the agent';
  iframe.className = 'parley-widget';
  iframe.style.border = '0';
  iframe.style.width = '380px';
  iframe.style.maxWidth = '100%';
  iframe.style.height = '560px';
  iframe.style.colorScheme = 'normal';
  script.insertAdjacentElement('afterend', iframe);

  var api = window.Parley = window.Parley || {};
  var states = api._states = api._states || {};
  var frames = api._frames = api._frames || {};
  api.getState = function (integrationId) {
    var s = states[integrationId || ''];
    return s ? JSON.parse(JSON.stringify(s)) : null;
  };
  api.logout = function (integrationId) {
    var f = frames[integrationId || ''];
    if (f && f.iframe.contentWindow) f.iframe.contentWindow.postMessage({ type: 'parley:logout' }, f.origin);
  };
  var integration = data.integrationId || '';
  frames[integration] = { iframe: iframe, origin: widgetOrigin };
  window.addEventListener('message', function (event) {
    if (event.origin !== widgetOrigin || event.source !== iframe.contentWindow) return;
    var m = event.data;
    if (!m || m.type !== 'parley:state' || !m.state || typeof m.state !== 'object') return;
    states[m.state.integrationID || integration] = m.state;
    if (typeof api.onstate === 'function') api.onstate(m.state);
  });
  iframe.addEventListener('load', function () {
    iframe.contentWindow.postMessage({ type: 'parley:hello' }, widgetOrigin);
  });
})();
