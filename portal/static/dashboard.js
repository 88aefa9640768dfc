/* Marsad indicators dashboard: draws the charts whose data the page carries in data-chart
   attributes (the Content-Security-Policy allows no inline script), and submits the filter
   forms when a choice changes. Without JavaScript or without Plotly the page still works:
   the forms have their buttons and the tables hold every figure. */
(function () {
  "use strict";

  var COLOURS = ["#0b5c7a", "#d9822b", "#2f8f5b", "#8e4b9c", "#b8322c", "#5a6675", "#c7a100", "#1f7fb3"];
  var BAND = "rgba(11, 92, 122, 0.16)";

  function autosubmit() {
    var forms = document.querySelectorAll("form[data-autosubmit]");
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("change", function (event) {
        if (event.target.tagName !== "SELECT") { return; }
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      });
    });
  }

  function baseLayout(spec, el) {
    var rtl = spec.rtl;
    return {
      separators: spec.separators,
      font: {family: window.getComputedStyle(el).fontFamily, size: 13, color: "#1b2430"},
      margin: {t: 8, r: 8, b: 8, l: 8},
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      dragmode: false,
      hovermode: "closest",
      showlegend: false,
      // Arabic pages read from the right: legend on the right, first things on the right.
      legend: {orientation: "h", x: rtl ? 1 : 0, xanchor: rtl ? "right" : "left", y: 1.02, yanchor: "bottom"},
      hoverlabel: {align: rtl ? "right" : "left"}
    };
  }

  function barChart(spec, el) {
    // Horizontal bars: long names (nationalities, border posts) stay readable in every language.
    var layout = baseLayout(spec, el);
    var many = spec.series.length > 1;
    var traces = spec.series.map(function (s, i) {
      return {
        type: "bar", orientation: "h", name: s.name, y: spec.categories, x: s.values,
        marker: {color: COLOURS[i % COLOURS.length]},
        text: many ? null : s.texts, textposition: many ? "none" : "outside", cliponaxis: false,
        hovertext: s.texts,
        hovertemplate: (many ? "%{fullData.name}<br>" : "") + "<b>%{y}</b><br>%{hovertext}<extra></extra>"
      };
    });
    layout.showlegend = many;
    layout.barmode = "group";
    layout.height = Math.max(260, 40 + spec.categories.length * (many ? 14 * spec.series.length + 8 : 26));
    layout.yaxis = {autorange: "reversed", automargin: true, side: spec.rtl ? "right" : "left",
                    type: "category", ticksuffix: " "};
    layout.xaxis = {automargin: true, rangemode: "tozero", zeroline: true, fixedrange: true, tickformat: ",",
                    autorange: spec.rtl ? "reversed" : true, title: {text: spec.value_title}};
    if (!many) {
      // A confidential value has no bar: its mark is written where the bar would start.
      layout.annotations = [];
      spec.series[0].values.forEach(function (v, i) {
        if (v === null) {
          layout.annotations.push({x: 0, y: spec.categories[i], text: spec.series[0].texts[i], showarrow: false,
                                   xanchor: spec.rtl ? "right" : "left", font: {color: "#5a6675"}});
        }
      });
    }
    return {traces: traces, layout: layout};
  }

  function lineChart(spec, el) {
    var layout = baseLayout(spec, el);
    var many = spec.series.length > 1;
    var traces = spec.series.map(function (s, i) {
      return {
        type: "scatter", mode: "lines+markers", name: s.name, x: spec.categories, y: s.values,
        connectgaps: false, line: {color: COLOURS[i % COLOURS.length], width: 2.5},
        hovertext: s.texts,
        hovertemplate: (many ? "%{fullData.name}<br>" : "") + "<b>%{x}</b><br>%{hovertext}<extra></extra>"
      };
    });
    layout.showlegend = many;
    layout.height = 360;
    layout.xaxis = {type: "category", automargin: true, autorange: spec.rtl ? "reversed" : true,
                    title: {text: spec.axis_title}, fixedrange: true};
    // The unit is in the caption: a rotated title beside right-hand ticks would cover them.
    layout.yaxis = {automargin: true, rangemode: "tozero", side: spec.rtl ? "right" : "left", tickformat: ",",
                    fixedrange: true};
    return {traces: traces, layout: layout};
  }

  function forecastChart(spec, el) {
    var layout = baseLayout(spec, el);
    var obs = spec.observed, fc = spec.forecast;
    var lastX = obs.x[obs.x.length - 1], lastY = obs.values[obs.values.length - 1];
    var traces = [
      {type: "scatter", mode: "lines", x: fc.x, y: fc.upper, line: {width: 0}, hoverinfo: "skip",
       showlegend: false},
      {type: "scatter", mode: "lines", x: fc.x, y: fc.lower, line: {width: 0}, fill: "tonexty",
       fillcolor: BAND, name: spec.names.interval, hoverinfo: "skip"},
      {type: "scatter", mode: "lines", x: obs.x, y: obs.values, name: spec.names.observed,
       line: {color: COLOURS[0], width: 2}, connectgaps: false, hovertext: obs.texts,
       hovertemplate: "<b>%{x}</b><br>%{hovertext}<extra></extra>"},
      {type: "scatter", mode: "lines+markers", x: [lastX].concat(fc.x), y: [lastY].concat(fc.mean),
       name: spec.names.forecast, line: {color: COLOURS[1], width: 2, dash: "dot"},
       hovertext: [""].concat(fc.texts), hovertemplate: "<b>%{x}</b><br>%{hovertext}<extra></extra>"}
    ];
    layout.showlegend = true;
    layout.height = 340;
    // Categories in time order whatever the order of the traces (the band comes first).
    layout.xaxis = {type: "category", categoryorder: "array", categoryarray: obs.x.concat(fc.x),
                    automargin: true, nticks: 12, autorange: spec.rtl ? "reversed" : true, fixedrange: true};
    layout.yaxis = {automargin: true, rangemode: "tozero", side: spec.rtl ? "right" : "left", tickformat: ",",
                    fixedrange: true};
    return {traces: traces, layout: layout};
  }

  var KINDS = {bar: barChart, line: lineChart, forecast: forecastChart};

  function draw(el) {
    var spec;
    try {
      spec = JSON.parse(el.getAttribute("data-chart"));
    } catch (e) {
      return;
    }
    var make = KINDS[spec.kind];
    if (!make) { return; }
    var figure = make(spec, el);
    var fallback = el.querySelector(".chart-fallback");
    if (fallback) { fallback.parentNode.removeChild(fallback); }
    window.Plotly.newPlot(el, figure.traces, figure.layout,
                          {displayModeBar: false, responsive: true}).then(function () {
      el.classList.add("drawn");
    });
  }

  function start() {
    autosubmit();
    if (!window.Plotly) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
