"""Prophet's MAP fit solved exactly, without Stan.

For linear or flat growth, Prophet's negative log posterior is, for a fixed noise scale sigma, a lasso in the
changepoint deltas (Laplace prior) with a ridge on k, m and the seasonal, holiday and regressor coefficients beta
(normal priors); for fixed coefficients, sigma has a closed form. Alternating the two exact block minimisations
converges in a few rounds. Multiplicative terms make the mean bilinear (trend x (1 + X_m beta_m)); their fit
alternates the trend block and the beta block, each exact, and reaches a stationary point as Stan's L-BFGS does.

Every fit is checked (finite, the optimality conditions within OPTIMALITY_TOLERANCE, sigma converged); a fit that
fails the check returns None and the caller falls back to Stan.
"""

import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

LINEAR, FLAT = 0, 2  # Prophet's trend_indicator values this solver covers (1 is logistic)
OPTIMALITY_TOLERANCE = 1e-6
MAX_ROUNDS = 500
# A (near) perfect fit has no MAP: the posterior grows without bound as sigma goes to 0. Such fits go to Stan, which
# stops where its optimiser does, as Prophet's own fit of that series would (Prophet gives a constant series 1e-9).
SIGMA_FLOOR = 1e-9
PRIOR_VAR_KM, PRIOR_VAR_SIGMA = 25.0, 0.25  # k, m ~ N(0, 5); sigma_obs ~ N(0, 0.5)


@dataclass(frozen=True)
class Problem:
    """Prophet's Stan data (ModelInputData, as a dict) as arrays."""

    y: np.ndarray
    t: np.ndarray
    t_change: np.ndarray
    X: np.ndarray
    sigmas: np.ndarray
    tau: float
    trend: int
    additive: np.ndarray  # bool per column of X
    multiplicative: np.ndarray
    trend_design: np.ndarray | None = field(default=None, repr=False)  # trend_columns, when the caller has them

    @classmethod
    def of(cls, data: dict) -> "Problem":
        X = np.asarray(getattr(data["X"], "values", data["X"]), dtype=float).reshape(int(data["T"]), -1)
        return cls(
            y=np.asarray(data["y"], dtype=float),
            t=np.asarray(data["t"], dtype=float),
            t_change=np.asarray(data["t_change"], dtype=float).reshape(-1),
            X=X,
            sigmas=np.asarray(data["sigmas"], dtype=float).reshape(-1),
            tau=float(data["tau"]),
            trend=int(data["trend_indicator"]),
            additive=np.asarray(data["s_a"], dtype=float).reshape(-1) != 0,
            multiplicative=np.asarray(data["s_m"], dtype=float).reshape(-1) != 0,
        )

    @property
    def eligible(self) -> bool:
        return self.trend in (LINEAR, FLAT) and self.tau > 0 and bool((self.sigmas > 0).all())

    @property
    def has_multiplicative(self) -> bool:
        return bool(self.multiplicative.any())

    @functools.cached_property
    def trend_columns(self) -> np.ndarray:
        """d trend / d (delta, k, m): [(t - t_c) 1(t >= t_c)..., t, 1]; zeros for delta and k when flat."""
        if self.trend_design is not None:
            return self.trend_design
        if self.trend == LINEAR:
            return trend_columns(self.t, self.t_change)
        return np.column_stack([np.zeros((len(self.t), len(self.t_change) + 1)), np.ones_like(self.t)])

    @functools.cached_property
    def norms(self) -> tuple[np.ndarray, np.ndarray]:
        """The 2-norms of the trend's columns and of X's: bounds on any column scaled row by row."""
        return np.linalg.norm(self.trend_columns, axis=0), np.linalg.norm(self.X, axis=0)

    @functools.cached_property
    def magnitudes(self) -> tuple[np.ndarray, np.ndarray]:
        """|trend columns| and |X|, for the sizes of the optimality conditions' terms."""
        return np.abs(self.trend_columns), np.abs(self.X)


def trend_columns(t: np.ndarray, t_change: np.ndarray) -> np.ndarray:
    """Prophet's linear trend is linear in (delta, k, m) with these columns, at any times t."""
    hinges = np.where(t[:, None] >= t_change[None, :], t[:, None] - t_change[None, :], 0.0)
    return np.column_stack([hinges, t, np.ones_like(t)])


class _Dense:
    """A Jacobian held as a matrix."""

    def __init__(self, J: np.ndarray) -> None:
        self.J = J

    def t_dot(self, r: np.ndarray) -> np.ndarray:
        return self.J.T @ r

    def abs_t_dot(self, r: np.ndarray) -> np.ndarray:
        return np.abs(self.J).T @ np.abs(r)


class _Jacobian:
    """d mean / d (delta, k, m, beta) = [trend columns x scale, X x (trend where multiplicative, else 1)], applied
    without forming it: the fit's checks need only J'r and |J|'|r|, and Newton's Hessian only the columns in use."""

    def __init__(self, problem: "Problem", trend: np.ndarray, scale: np.ndarray) -> None:
        self.problem, self.trend, self.scale = problem, trend, scale

    def t_dot(self, r: np.ndarray) -> np.ndarray:
        p = self.problem
        return np.concatenate([p.trend_columns.T @ (self.scale * r), self._x_part(p.X.T, r, self.trend * r)])

    def abs_t_dot(self, r: np.ndarray) -> np.ndarray:
        (abs_trend, abs_X), r = self.problem.magnitudes, np.abs(r)
        return np.concatenate(
            [abs_trend.T @ (np.abs(self.scale) * r), self._x_part(abs_X.T, r, np.abs(self.trend) * r)]
        )

    def _x_part(self, Xt: np.ndarray, r: np.ndarray, trend_r: np.ndarray) -> np.ndarray:
        mult = self.problem.multiplicative
        if mult.all():
            return Xt @ trend_r
        return np.where(mult, Xt @ trend_r, Xt @ r) if mult.any() else Xt @ r

    def columns(self, index: np.ndarray) -> np.ndarray:
        p, n_trend = self.problem, self.problem.trend_columns.shape[1]
        trend_index, x_index = index[index < n_trend], index[index >= n_trend] - n_trend
        X = p.X[:, x_index] * np.where(p.multiplicative[x_index], self.trend[:, None], 1.0)
        return np.column_stack([p.trend_columns[:, trend_index] * self.scale[:, None], X])


@dataclass(frozen=True)
class Fit:
    """Prophet's parameters at the optimum, and the log posterior there (Stan's lp__, constants dropped)."""

    k: float
    m: float
    delta: np.ndarray
    beta: np.ndarray
    sigma_obs: float
    log_posterior: float
    rounds: int
    trend: np.ndarray  # on the history, as Stan's transformed parameter

    def params(self) -> dict[str, np.ndarray]:
        """As Prophet's Stan backend returns them from an optimisation: each an array of one row."""
        return {
            "lp__": np.array([[self.log_posterior]]),
            "k": np.array([[self.k]]),
            "m": np.array([[self.m]]),
            "delta": self.delta.reshape(1, -1),
            "sigma_obs": np.array([[self.sigma_obs]]),
            "beta": self.beta.reshape(1, -1),
            "trend": self.trend.reshape(1, -1),
        }


def mean_of(problem: Problem, k: float, m: float, delta: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Prophet's model mean: trend x (1 + X_m beta_m) + X_a beta_a."""
    trend = problem.trend_columns @ np.concatenate([delta, [k, m]])
    X = problem.X
    return trend * (1 + X @ (beta * problem.multiplicative)) + X @ (beta * problem.additive)


def log_posterior(problem: Problem, k: float, m: float, delta, beta, sigma: float) -> float:
    """Stan's lp__ of Prophet's model at these parameters (optimisation drops constants and the Jacobian)."""
    delta, beta = np.asarray(delta, dtype=float).reshape(-1), np.asarray(beta, dtype=float).reshape(-1)
    rss = float(np.sum((problem.y - mean_of(problem, k, m, delta, beta)) ** 2))
    return -(
        (k * k + m * m) / (2 * PRIOR_VAR_KM)
        + np.abs(delta).sum() / problem.tau
        + np.sum(beta**2 / (2 * problem.sigmas**2))
        + sigma * sigma / (2 * PRIOR_VAR_SIGMA)
        + len(problem.y) * np.log(sigma)
        + rss / (2 * sigma * sigma)
    )


def log_posterior_of(problem: Problem, params: dict) -> float:
    """log_posterior at parameters in the form Prophet keeps them (model.params: arrays of one row)."""
    p = {name: np.asarray(value, dtype=float).reshape(-1) for name, value in params.items()}
    return log_posterior(problem, p["k"][0], p["m"][0], p["delta"], p["beta"], p["sigma_obs"][0])


def best_sigma(rss: float, T: int) -> float:
    """argmin over sigma of rss / (2 sigma^2) + T log sigma + 2 sigma^2: the root of 4 s^4 + T s^2 - rss."""
    return float(np.sqrt(2 * rss / (T + np.sqrt(T * T + 16 * rss))))


def lasso(H: np.ndarray, c: np.ndarray, lam: float, x: np.ndarray | None = None, max_steps: int = 1000):
    """argmin over x of x'Hx / 2 - c'x + lam |x|_1 (H symmetric positive semi-definite), by feature-sign search
    (Lee et al. 2007): exact on each sign pattern, so the zeros come out exactly zero. None if it did not finish."""
    n = len(c)
    x = np.zeros(n) if x is None else np.array(x, dtype=float)
    if n == 0:
        return x
    scale = max(lam, float(np.abs(c).max()), 1e-300)

    def objective(v: np.ndarray) -> float:
        return 0.5 * v @ H @ v - c @ v + lam * np.abs(v).sum()

    for _ in range(max_steps):
        g = H @ x - c
        theta = np.sign(x)
        active = theta != 0
        if not active.any() or np.abs(g[active] + lam * theta[active]).max() <= 1e-12 * scale:
            free = np.where(active, 0.0, np.abs(g))
            i = int(np.argmax(free))
            if free[i] <= lam + 1e-12 * scale:
                return x
            theta[i], active[i] = -np.sign(g[i]), True
        A = np.flatnonzero(active)
        try:
            target = np.linalg.solve(H[np.ix_(A, A)], c[A] - lam * theta[A])
        except np.linalg.LinAlgError:
            target = np.linalg.lstsq(H[np.ix_(A, A)], c[A] - lam * theta[A], rcond=None)[0]
        start = x[A]
        step = target - start
        crossing = (start != 0) & (np.sign(target) != np.sign(start))
        stops = [(1.0, None)] + [(-start[j] / step[j], j) for j in np.flatnonzero(crossing)]
        best, best_value = x, objective(x)
        for fraction, zeroed in stops:
            trial = x.copy()
            trial[A] = start + fraction * step
            if zeroed is not None:
                trial[A[zeroed]] = 0.0
            value = objective(trial)
            if value < best_value:
                best, best_value = trial, value
        if best is x:  # no step lowers the objective: x is optimal to rounding
            return x
        x = best
    return None


class _Block:
    """One exact block: the coefficients of Z's columns for a fixed sigma, lasso on the first n_l1 columns (weight
    1 / tau) and ridge (precisions) on the rest, from Z'Z and Z'y alone."""

    def __init__(self, Z, y, n_l1: int, precisions: np.ndarray, tau: float, gram=None) -> None:
        self.G, self.b = (Z.T @ Z, Z.T @ y) if gram is None else gram
        self.n_l1, self.precisions, self.tau = n_l1, precisions, tau

    def solve(self, sigma: float, start: np.ndarray | None) -> np.ndarray | None:
        s2, u, v = sigma * sigma, slice(0, self.n_l1), slice(self.n_l1, None)
        M = self.G[v, v] + s2 * np.diag(self.precisions)
        try:
            solved = scipy.linalg.cho_solve(scipy.linalg.cho_factor(M), np.column_stack([self.G[v, u], self.b[v]]))
        except np.linalg.LinAlgError:
            return None
        Mi_Gvu, Mi_bv = solved[:, :-1], solved[:, -1]
        H = self.G[u, u] - self.G[u, v] @ Mi_Gvu
        c = self.b[u] - self.G[u, v] @ Mi_bv
        deltas = lasso((H + H.T) / 2, c, s2 / self.tau, None if start is None else start[u])
        if deltas is None:
            return None
        return np.concatenate([deltas, Mi_bv - Mi_Gvu @ deltas])


def solve(problem: Problem, gram: tuple[np.ndarray, np.ndarray] | None = None, start: Fit | None = None) -> Fit | None:
    """Prophet's MAP parameters by exact block minimisation; None if ineligible or the check fails.

    gram: Z'Z and Z'y of the additive design Z = [changepoint hinges, t, 1, X], when the caller has them.
    start: an earlier fit with beta for these columns, where a multiplicative fit starts (a neighbouring trial's
    optimum is close); the additive problem is convex and needs none.
    """
    if not problem.eligible:
        return None
    fit = _solve_multiplicative(problem, start) if problem.has_multiplicative else _solve_additive(problem, gram)
    return fit if fit is not None and is_optimal(problem, fit) else None


def _priors(problem: Problem, columns: np.ndarray) -> np.ndarray:
    return np.concatenate([[1 / PRIOR_VAR_KM] * 2, 1 / problem.sigmas[columns] ** 2])


def _solve_additive(problem: Problem, gram=None) -> Fit | None:
    S, y, T = len(problem.t_change), problem.y, len(problem.y)
    Z = None if gram else np.column_stack([problem.trend_columns, problem.X])
    G, b = gram or (Z.T @ Z, Z.T @ y)
    block = _Block(Z, y, S, _priors(problem, np.ones(problem.X.shape[1], bool)), problem.tau, (G, b))
    yy = float(y @ y)
    sigma, theta = best_sigma(yy, T), None
    for rounds in range(1, MAX_ROUNDS + 1):
        theta = block.solve(sigma, theta)
        if theta is None:
            return None
        rss = max(0.0, yy - 2 * float(b @ theta) + float(theta @ G @ theta))
        new_sigma = best_sigma(rss, T)
        if new_sigma < SIGMA_FLOOR:
            return None
        converged = abs(new_sigma - sigma) <= 1e-13 * sigma
        sigma = new_sigma
        if converged:
            return _fit(problem, theta[S], theta[S + 1], theta[:S], theta[S + 2 :], sigma, rounds)
    return None


def _solve_multiplicative(problem: Problem, start: Fit | None = None) -> Fit | None:
    """Alternate (trend, beta_a | beta_m) and (beta | trend), each exact, with sigma after each, until the changepoints
    in use settle; then Newton steps on the smooth problem those changepoints leave (alternating blocks only creep
    along the ridge where trend and multiplicative terms trade off), back to a round of blocks whenever a changepoint
    left out would improve the fit."""
    S, y, T, X = len(problem.t_change), problem.y, len(problem.y), problem.X
    add, mult = problem.additive, problem.multiplicative
    X_add, X_mult = X[:, add], X[:, mult]
    trend_norms, X_norms = problem.norms
    beta = np.zeros(X.shape[1])
    sigma, trend_theta, pattern = best_sigma(float(y @ y), T), None, None
    if start is not None and start.beta.shape == beta.shape and start.delta.shape == (S,):
        beta, sigma = start.beta.copy(), start.sigma_obs
        trend_theta = np.concatenate([start.delta, [start.k, start.m], beta[add]])
    priors = _priors(problem, add)
    beta_precisions = np.concatenate([1 / problem.sigmas[add] ** 2, 1 / problem.sigmas[mult] ** 2])
    for rounds in range(1, MAX_ROUNDS + 1):
        scale = 1 + X_mult @ beta[mult]
        Z = np.column_stack([problem.trend_columns * scale[:, None], X_add])
        if trend_theta is not None:
            current = np.concatenate([trend_theta[: S + 2], beta[add]])
            norms = np.concatenate([trend_norms * np.abs(scale).max(), X_norms[add]])
            # the trend block's conditions; the betas' hold after a round (a warm start's need not: its own round)
            if rounds > 1 and _stationary(_Dense(Z), y - Z @ current, sigma, current, S, priors, problem.tau, norms):
                fit = _fit(problem, current[S], current[S + 1], current[:S], beta, sigma, rounds)
                return fit if pattern is None else _newton(problem, fit)
            if pattern is not None and np.array_equal(pattern, np.sign(current[:S])):
                polished = _newton(problem, _fit(problem, current[S], current[S + 1], current[:S], beta, sigma, rounds))
                if polished is not None:
                    return polished
            pattern = np.sign(current[:S])
        theta = _Block(Z, y, S, priors, problem.tau).solve(sigma, trend_theta)
        if theta is None:
            return None
        trend_theta, beta[add] = theta, theta[S + 2 :]
        trend = problem.trend_columns @ theta[: S + 2]
        sigma = best_sigma(float(np.sum((y - Z @ theta) ** 2)), T)
        W = np.column_stack([X_add, X_mult * trend[:, None]])
        if sigma < SIGMA_FLOOR:
            return None
        betas = _Block(W, y - trend, 0, beta_precisions, problem.tau).solve(sigma, None)
        if betas is None:
            return None
        beta[add], beta[mult] = betas[: add.sum()], betas[add.sum() :]
        sigma = best_sigma(float(np.sum((y - trend - W @ betas) ** 2)), T)
        if sigma < SIGMA_FLOOR:
            return None
    return None


def _newton_step(problem, v, on, sigma, precisions, J, trend, residual) -> np.ndarray | None:
    """The Newton step in the coefficients in use (Gauss-Newton where the Hessian is not positive definite); None
    where a changepoint out of use would improve the fit, which the lasso block decides."""
    S, X, mult = len(problem.t_change), problem.X, problem.multiplicative
    gradient = -J.t_dot(residual) / sigma**2 + precisions * v
    if (np.abs(gradient[:S][~on[:S]]) > (1 + OPTIMALITY_TOLERANCE) / problem.tau).any():
        return None
    gradient[:S] += np.sign(v[:S]) / problem.tau
    index = np.flatnonzero(on)  # sorted: the trend's columns in use first, then every beta
    J_on = J.columns(index)
    hessian = J_on.T @ J_on / sigma**2 + np.diag(precisions[index])
    trend_on = index[index < S + 2]
    in_mult = len(trend_on) + np.flatnonzero(mult)
    # d2 mean / d trend d beta_m
    cross = problem.trend_columns[:, trend_on].T @ (residual[:, None] * X[:, mult]) / sigma**2
    full = hessian.copy()
    full[np.ix_(np.arange(len(trend_on)), in_mult)] -= cross
    full[np.ix_(in_mult, np.arange(len(trend_on)))] -= cross.T
    for matrix in (full, hessian):
        try:
            factor = scipy.linalg.cho_factor(matrix)
        except np.linalg.LinAlgError:
            continue
        step = np.zeros_like(v)
        step[index] = -scipy.linalg.cho_solve(factor, gradient[index])
        return step
    return None


def _newton(problem: Problem, start: Fit, steps: int = 50) -> Fit | None:
    """Newton steps on (changepoints in use, k, m, beta) with sigma at its closed form after each, the changepoints
    out of use held at zero; None if it does not reach a stationary point (the caller goes on with blocks)."""
    S, y, X, mult = len(problem.t_change), problem.y, problem.X, problem.multiplicative
    on = np.concatenate([start.delta != 0, np.ones(2 + X.shape[1], bool)])
    precisions = np.concatenate([np.zeros(S), [1 / PRIOR_VAR_KM] * 2, 1 / problem.sigmas**2])
    v = np.concatenate([start.delta, [start.k, start.m], start.beta])
    sigma = start.sigma_obs

    def parts(v: np.ndarray):
        trend = problem.trend_columns @ v[: S + 2]
        scale = 1 + X @ (v[S + 2 :] * mult)
        residual = y - trend * scale - X @ (v[S + 2 :] * problem.additive)
        return trend, scale, residual

    def objective(v: np.ndarray, residual: np.ndarray) -> float:
        return residual @ residual / (2 * sigma**2) + np.abs(v[:S]).sum() / problem.tau + 0.5 * precisions @ v**2

    for rounds in range(1, steps + 1):
        trend, scale, residual = parts(v)
        J = _Jacobian(problem, trend, scale)
        trend_size = np.where(mult, np.abs(trend).max(), 1.0)
        norms = np.concatenate([problem.norms[0] * np.abs(scale).max(), problem.norms[1] * trend_size])
        if _stationary(J, residual, sigma, v, S, precisions[S:], problem.tau, norms):  # solve() checks the fit
            return _fit(problem, v[S], v[S + 1], v[:S], v[S + 2 :], sigma, start.rounds + rounds)
        step = _newton_step(problem, v, on, sigma, precisions, J, trend, residual)
        if step is None:
            return None
        crossing = (v[:S] != 0) & (np.sign(v[:S] + step[:S]) != np.sign(v[:S]))
        limit = min([1.0, *(-v[:S][crossing] / step[:S][crossing])])
        before, moved = objective(v, residual), False
        for _ in range(30):
            candidate = v + limit * step
            candidate[:S][crossing & np.isclose(candidate[:S], 0, atol=1e-15 + 1e-12 * np.abs(v[:S]))] = 0.0
            if objective(candidate, parts(candidate)[2]) < before:
                v, moved = candidate, True
                break
            limit /= 2
        if not moved:
            return None
        on[:S] &= v[:S] != 0
        sigma = best_sigma(float(np.sum(parts(v)[2] ** 2)), len(y))
        if sigma < SIGMA_FLOOR:
            return None
    return None


def _fit(problem: Problem, k, m, delta, beta, sigma, rounds) -> Fit:
    k, m, delta, beta = float(k), float(m), np.asarray(delta, dtype=float), np.asarray(beta, dtype=float)
    trend = problem.trend_columns @ np.concatenate([delta, [k, m]])
    return Fit(k, m, delta, beta, sigma, log_posterior(problem, k, m, delta, beta, sigma), rounds, trend)


def is_optimal(problem: Problem, fit: Fit) -> bool:
    """Finite, and the first-order optimality conditions of the log posterior hold within OPTIMALITY_TOLERANCE
    relative to the sum of the absolute terms in each (the subgradient for the deltas at zero), so rounding in a
    gradient of cancelling terms does not fail a fit."""
    values = np.concatenate([[fit.k, fit.m, fit.sigma_obs, fit.log_posterior], fit.delta, fit.beta])
    if not np.isfinite(values).all() or fit.sigma_obs <= 0:
        return False
    X = problem.X
    trend = problem.trend_columns @ np.concatenate([fit.delta, [fit.k, fit.m]])
    scale = 1 + X @ (fit.beta * problem.multiplicative)
    residual = problem.y - (trend * scale + X @ (fit.beta * problem.additive))
    J = _Jacobian(problem, trend, scale)
    coefficients = np.concatenate([fit.delta, [fit.k, fit.m], fit.beta])
    precisions = np.concatenate([[1 / PRIOR_VAR_KM] * 2, 1 / problem.sigmas**2])
    T, rss = len(problem.y), float(residual @ residual)
    sigma_gap = abs(4 * fit.sigma_obs + T / fit.sigma_obs - rss / fit.sigma_obs**3)
    sigma_size = 4 * fit.sigma_obs + T / fit.sigma_obs + rss / fit.sigma_obs**3
    stationary = _stationary(J, residual, fit.sigma_obs, coefficients, len(fit.delta), precisions, problem.tau)
    return stationary and sigma_gap <= OPTIMALITY_TOLERANCE * sigma_size


def _stationary(J, residual, sigma, coefficients, n_l1, precisions, tau, norms=None) -> bool:
    """First-order conditions of ||residual||^2 / (2 sigma^2) + |c[:n_l1]|_1 / tau + sum(precisions c[n_l1:]^2) / 2
    in the coefficients c of J's columns (J a _Jacobian or _Dense), each within OPTIMALITY_TOLERANCE of the sum of
    its absolute terms.
    norms: upper bounds on J's column 2-norms, to turn down a point far from stationary without |J|'|residual|
    (which Cauchy-Schwarz bounds by norms x ||residual||)."""
    s2 = sigma * sigma
    pull = J.t_dot(residual) / s2  # the likelihood's gradient
    prior = np.concatenate([np.sign(coefficients[:n_l1]) / tau, coefficients[n_l1:] * precisions])
    gap = np.abs(pull - prior)
    at_zero = np.zeros(len(prior), bool)
    at_zero[:n_l1] = coefficients[:n_l1] == 0
    gap[at_zero] = np.maximum(0.0, np.abs(pull[at_zero]) - 1 / tau)
    others = np.abs(prior) + np.where(at_zero, 1 / tau, 0.0)
    if norms is not None and (gap > OPTIMALITY_TOLERANCE * (norms * np.linalg.norm(residual) / s2 + others)).any():
        return False
    size = J.abs_t_dot(residual) / s2 + others
    return bool((gap <= OPTIMALITY_TOLERANCE * np.maximum(size, 1e-300)).all())
