/**
 * Service levels from a queue over serving slots. A model family's fleet is `c` slots (one
 * decoding sequence each, at the per-user speed the batch was sized for); a request holds a
 * slot for its reply (`serviceS` = output tokens ÷ per-user speed) and waits for one when all
 * are busy. Requests wait at most `maxQueueS` before the gateway sheds them (529), so the queue
 * holds K = ⌊c · maxQueueS ÷ serviceS⌋ requests: an M/M/c/c+K system. Its stationary state is
 * closed-form — with ρ = a ÷ c and B the Erlang-B loss of c slots at offered load a:
 *
 *   P(arrival finds j waiting) = ρʲ ÷ N   (0 ≤ j ≤ K),   N = 1/B + Σ_{j=1..K} ρʲ
 *
 * an arrival that finds K waiting is shed, and one that finds j waits for j + 1 departures at
 * rate c ÷ serviceS (taken as its mean: slots are many, so the spread is small). Unlike the
 * infinite queue (Erlang C) it stays defined through ρ = 1, and far above it sheds 1 − 1/ρ, the
 * fluid excess. Everything is in logarithms: c runs to millions.
 */

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * log erfc(z) for z ≥ 0, from the Chebyshev fit of Numerical Recipes (fractional error below
 * 1.2e-7 everywhere): written as t·exp(−z² + p(t)), so its logarithm never underflows.
 */
function logErfc(z: number): number {
  const t = 1 / (1 + 0.5 * z);
  const p =
    -1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t *
                      (0.27886807 +
                        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return Math.log(t) - z * z + p;
}

/** log Φ(x), the standard normal distribution function, accurate far into either tail. */
export function logNormalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const tail = logErfc(z) - Math.LN2;
  return x < 0 ? tail : Math.log1p(-Math.exp(tail));
}

/**
 * log of Erlang B: the share of arrivals that find all c slots busy in a loss system at offered
 * load a. B = P(N = c) ÷ P(N ≤ c) for N ~ Poisson(a), summed exactly, term by term down from
 * k = c until the terms no longer count: about (c − a) + 10√a terms. Where that is many, N is
 * near normal and says B is far below anything a service level can see, and that is returned.
 */
export function logErlangB(slots: number, offered: number): number {
  const c = Math.floor(slots);
  if (offered <= 0) return c === 0 ? 0 : Number.NEGATIVE_INFINITY;
  const sd = Math.sqrt(offered);
  const gamma = (c - offered) / sd;
  const logPmf = -0.5 * gamma * gamma - LOG_SQRT_2PI - Math.log(sd);
  const normal = Math.min(0, logPmf - logNormalCdf((c + 0.5 - offered) / sd));
  // Far below capacity B is negligible however it is computed (e^−70 and less); the normal
  // approximation is only trusted to say so with slots to spare.
  if (c > 200 && normal < -70) return normal;
  // 1/B = Σ_{k≤c} P(N = k) ÷ P(N = c), each term k/a times the one above it; summed in a
  // running scale so the terms that grow (k above a) cannot overflow.
  let logScale = 0;
  let term = 1;
  let sum = 1;
  for (let k = c; k >= 1; k--) {
    term *= k / offered;
    if (term > 1e200) {
      logScale += Math.log(term);
      sum /= term;
      term = 1;
    }
    sum += term;
    if (term < 1e-17 * sum && k < offered) break;
  }
  return -(logScale + Math.log(sum));
}

/** log Σ_{j=from}^{to−1} rʲ for a ratio r = exp(logR) > 0 (0 terms: −∞). */
function logGeometricSum(logR: number, from: number, to: number): number {
  const n = to - from;
  if (n <= 0) return Number.NEGATIVE_INFINITY;
  if (Math.abs(logR) < 1e-12) return Math.log(n);
  // Factor out the largest term so the rest is a sum of terms ≤ 1.
  if (logR < 0) return from * logR + Math.log(-Math.expm1(n * logR)) - Math.log(-Math.expm1(logR));
  return (to - 1) * logR + Math.log(-Math.expm1(-n * logR)) - Math.log(-Math.expm1(-logR));
}

const logAddExp = (a: number, b: number) => {
  if (a === Number.NEGATIVE_INFINITY) return b;
  if (b === Number.NEGATIVE_INFINITY) return a;
  const high = Math.max(a, b);
  return high + Math.log1p(Math.exp(Math.min(a, b) - high));
};

export interface QueueInput {
  /** Serving slots (concurrent sequences the family's replicas hold at their per-user speed). */
  slots: number;
  /** Requests per second. */
  arrivalsPerS: number;
  /** Seconds a request holds a slot. */
  serviceS: number;
  /** Longest wait before a request is shed. */
  maxQueueS: number;
}

/** The stationary queue of one family at one instant. */
export interface Queue {
  /** Share of arrivals shed (answered 529). */
  shed: number;
  /** Share of all arrivals that are admitted and wait longer than `waitS` for a slot. */
  waitingLongerThan(waitS: number): number;
  /** The wait (s) that a share `q` of admitted arrivals exceed (e.g. 0.05 for the 95th percentile). */
  waitQuantile(q: number): number;
}

const NO_QUEUE: Queue = { shed: 0, waitingLongerThan: () => 0, waitQuantile: () => 0 };
const ALL_SHED: Queue = { shed: 1, waitingLongerThan: () => 0, waitQuantile: () => 0 };

export function queueOf(input: QueueInput): Queue {
  const { arrivalsPerS, serviceS, maxQueueS } = input;
  if (arrivalsPerS <= 0) return NO_QUEUE;
  const c = Math.floor(input.slots);
  if (c < 1) return ALL_SHED;
  const offered = arrivalsPerS * serviceS;
  const logB = logErlangB(c, offered);
  if (logB < -60) return NO_QUEUE; // e^−60: no arrival in the age of the universe waits
  const logR = Math.log(offered / c);
  const capacity = Math.max(0, Math.floor((c * maxQueueS) / serviceS));
  const logNorm = logAddExp(-logB, logGeometricSum(logR, 1, capacity + 1));
  const departuresPerS = c / serviceS;
  /** Arrivals that find at least `j` already waiting and are still admitted (j < K). */
  const logFindingAtLeast = (j: number) => logGeometricSum(logR, j, capacity) - logNorm;
  const shed = Math.exp(capacity * logR - logNorm);
  // One that finds j waiting waits (j + 1) departures: longer than t when j + 1 > t·rate.
  const firstLate = (waitS: number) => Math.floor(waitS * departuresPerS + 1e-9);
  return {
    shed,
    waitingLongerThan: (waitS) => (waitS < 0 ? 1 - shed : Math.exp(logFindingAtLeast(firstLate(waitS)))),
    waitQuantile: (q) => {
      const admitted = 1 - shed;
      if (admitted <= 0) return 0;
      const limit = Math.log(q * admitted);
      if (logFindingAtLeast(0) <= limit) return 0;
      // The smallest queue position whose tail is within the quantile, by bisection.
      let low = 0;
      let high = capacity;
      while (high - low > 1) {
        const middle = Math.floor((low + high) / 2);
        if (logFindingAtLeast(middle) <= limit) high = middle;
        else low = middle;
      }
      return high / departuresPerS;
    },
  };
}
