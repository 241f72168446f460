// layerdream annotate: keyboard-first. Enter submits (plain HTML); Esc answers "can't tell" (lens: "none of these").
// Buttons are disabled while an answer is on its way, so a double Enter never answers the next image.
(function () {
  var form = document.getElementById('answer-form');
  if (!form) { return; }
  var cantTell = document.getElementById('cant-tell');
  var sent = false;
  form.addEventListener('submit', function (e) {
    if (sent) { e.preventDefault(); return; }
    sent = true;
    // keep the pressed button's name/value: disable the buttons only after the form data is taken
    setTimeout(function () { form.querySelectorAll('button').forEach(function (b) { b.disabled = true; }); }, 0);
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && !e.isComposing && !sent) {
      e.preventDefault();
      cantTell.click();
    }
  });
  // lens readouts: the digit keys tick the candidates; Enter sends the ticks, Esc is "none of these"
  var boxes = form.querySelectorAll('input[name=choice]');
  document.addEventListener('keydown', function (e) {
    var n = parseInt(e.key, 10);
    if (!sent && n >= 1 && n <= boxes.length && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      boxes[n - 1].checked = !boxes[n - 1].checked;
    }
  });
  var input = document.getElementById('answer');
  if (input) { input.focus(); } else if (boxes.length) { document.getElementById('submit').focus(); }
  document.body.dataset.ready = '1';  // the keys work from now on (the browser tests wait for this)
})();
