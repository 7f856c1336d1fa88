// The formulas each view shows, typeset with KaTeX (vendored): every optimizer's update rule, the
// initializer's variance and the mean-field prediction. The symbol a control changes is drawn in that
// control's colour (η, α: ETA; μ, ρ, β₁: MU), the same colour as the control's label.

export const ETA = '#c2410c', MU = '#237a37';  // 5.2:1 and 5.4:1 on white (WCAG AA; axe-core checks)

export function tex(el, src) {
  try { katex.render(src, el, {throwOnError: false, displayMode: true}); } catch (e) { el.textContent = src; }
}

// each update rule as lines; ETA and MU are replaced by the colours above
const UPDATE_TEX = {
  sgd: ['\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\,\\nabla L'],
  momentum: ['v \\leftarrow {\\color{MU}\\mu} v - {\\color{ETA}\\eta}\\nabla L', '\\theta \\leftarrow \\theta + v'],
  ema_momentum: ['v \\leftarrow {\\color{MU}\\mu} v + (1-{\\color{MU}\\mu})\\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta} v'],
  momentum_ema: ['v \\leftarrow {\\color{MU}\\mu} v + (1-{\\color{MU}\\mu})\\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta} v'],
  nesterov: ['b \\leftarrow {\\color{MU}\\mu} b + \\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}(\\nabla L + {\\color{MU}\\mu} b)'],
  nesterov_ema: ['v \\leftarrow {\\color{MU}\\mu} v - {\\color{ETA}\\eta}\\nabla L(\\theta + {\\color{MU}\\mu} v)', '\\theta \\leftarrow \\theta + v'],
  adagrad: ['h \\leftarrow h + \\nabla L\\odot \\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\, \\nabla L / (\\sqrt{h}+\\varepsilon)'],
  rmsprop: ['h \\leftarrow {\\color{MU}\\rho} h + (1-{\\color{MU}\\rho})\\, \\nabla L\\odot \\nabla L', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\, \\nabla L / (\\sqrt{h}+\\varepsilon)'],
  adam: ['m \\leftarrow {\\color{MU}\\beta_1} m + (1-{\\color{MU}\\beta_1}) \\nabla L', 'v \\leftarrow \\beta_2 v + (1-\\beta_2) \\nabla L^2',
    '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\, \\hat m / (\\sqrt{\\hat v}+\\varepsilon)'],
  adamw: ['m, v, \\hat m, \\hat v \\text{ as Adam}', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\big(\\hat m / (\\sqrt{\\hat v}+\\varepsilon) + \\lambda\\theta\\big)'],
  nadam: ['m, v, \\hat m, \\hat v \\text{ as Adam}', '\\theta \\leftarrow \\theta - {\\color{ETA}\\eta}\\,\\dfrac{\\beta_1 \\hat m + (1-\\beta_1) \\nabla L/(1-\\beta_1^t)}{\\sqrt{\\hat v}+\\varepsilon}'],
  newton: ['\\theta \\leftarrow \\theta - {\\color{ETA}\\alpha}\\,\\big(\\nabla^2 f(\\theta) + \\delta I\\big)^{-1}\\nabla f(\\theta)'],
};
// an optimizer's update rule as aligned lines, its label (if given) in front of the first
export function updateTex(name, label) {
  const lines = (UPDATE_TEX[name] || [`\\text{${name}}`]).map((l) => l.replaceAll('ETA', ETA).replaceAll('MU', MU));
  const head = label ? `\\text{${label}}:\\;` : '';
  return `\\begin{aligned}${lines.map((l, i) => (i === 0 ? head : '') + '&' + l).join('\\\\')}\\end{aligned}`;
}
// W ~ N(0, σ²) with the initializer's σ² (he: 2/n_in; xavier, lecun: 1/n_in; ...), else its name
export function initTex(init, act) {
  const i = (init || '').toLowerCase();
  let v = null;
  if (i === 'he' || i === 'kaiming' || i === 'he_normal') v = '\\frac{2}{n_{\\text{in}}}';
  else if (i === 'xavier' || i === 'lecun' || i === 'lecun_normal') v = '\\frac{1}{n_{\\text{in}}}';
  else if (i === 'xavier_normal' || i === 'glorot') v = '\\frac{2}{n_{\\text{in}} + n_{\\text{out}}}';
  else if (i === 'book') v = act === 'relu' ? '\\frac{2}{n_{\\text{in}}}' : '\\frac{1}{n_{\\text{in}}}';
  else if (i === 'zeros' || i === 'zero') v = '0';
  else if (i.startsWith('std=')) v = `${i.slice(4)}^2`;
  return v ? `W_{ij} \\sim \\mathcal N(0, \\sigma^2),\\quad \\sigma^2 = ${v}` : `W \\text{ from the initializer } \\texttt{${i.replace(/_/g, '\\_')}}`;
}
// the spread a layer's pre-activations should have, given the layer before (the mean-field recursion)
export const MEAN_FIELD_TEX = '\\operatorname{Var} z_{l+1} = n_l\\,\\sigma^2\\,\\mathbb E[\\varphi(z_l)^2]';
