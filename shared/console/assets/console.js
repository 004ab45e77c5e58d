// The console's only script: "select every alert on this page", and Enter
// in a bulk action's notes pressing that action's button. The page works
// without it.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var name = all.getAttribute("data-select-all");
    all.addEventListener("change", function () {
      all.form.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });
  // Enter in a text field submits its form with the form's first button:
  // in the alerts list's resolution notes, that is Acknowledge. The server
  // refuses that mix (pages.go, acknowledge); this presses the right one.
  document.querySelectorAll("input[data-enter]").forEach(function (input) {
    var button = document.getElementById(input.getAttribute("data-enter"));
    if (!button) {
      return;
    }
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.isComposing) {
        e.preventDefault();
        button.click();
      }
    });
    // The form's own submission comes with the keypress, which a browser
    // skips after a prevented keydown but key events sent by other means
    // (DevTools, as the tests do) still fire.
    input.addEventListener("keypress", function (e) {
      if (e.key === "Enter") {
        e.preventDefault();
      }
    });
  });
});
