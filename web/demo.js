// The demo page's own script: shows window.Parley.getState() as the widget updates it.
setInterval(function () {
  var state = window.Parley && window.Parley.getState();
  if (state) document.getElementById('state').textContent = JSON.stringify(state, null, 2);
}, 500);
