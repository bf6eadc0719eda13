#include "doppel/control/mpc_nlp.h"

#include <Eigen/Core>
#include <IpIpoptApplication.hpp>
#include <IpTNLP.hpp>
#include <cstring>
#include <map>
#include <mutex>
#include <unsupported/Eigen/AutoDiff>
#include <utility>

namespace doppel::control::internal {
namespace {

using Ipopt::Index;
using Ipopt::Number;
using Ad = Eigen::AutoDiffScalar<Eigen::Vector2d>;  // d/ds, d/dL

// Values and partial derivatives of one pump in one step.
struct PumpEval {
  double q = 0, dq_ds = 0, dq_dl = 0;
  double p = 0, dp_ds = 0, dp_dl = 0;
  // Second derivatives (central differences of the exact first derivatives).
  double q_ss = 0, q_sl = 0, q_ll = 0;
  double p_ss = 0, p_sl = 0, p_ll = 0;
};

PumpEval EvalAd(const PumpEstimate& pe, double lift, double s, double level) {
  Ad as(s, 2, 0), al(level, 2, 1);
  PumpPointT<Ad> pt = EvalPump<Ad>(pe, lift, as, al);
  return {pt.flow_m3h.value(),       pt.flow_m3h.derivatives()[0],       pt.flow_m3h.derivatives()[1],
          pt.shaft_power_kw.value(), pt.shaft_power_kw.derivatives()[0], pt.shaft_power_kw.derivatives()[1]};
}

PumpEval EvalWithHessian(const PumpEstimate& pe, double lift, double s, double level) {
  PumpEval e = EvalAd(pe, lift, s, level);
  constexpr double h = 1e-6;
  const PumpEval sp = EvalAd(pe, lift, s + h, level), sm = EvalAd(pe, lift, s - h, level);
  const PumpEval lp = EvalAd(pe, lift, s, level + h), lm = EvalAd(pe, lift, s, level - h);
  e.q_ss = (sp.dq_ds - sm.dq_ds) / (2 * h);
  e.q_sl = 0.5 * ((sp.dq_dl - sm.dq_dl) + (lp.dq_ds - lm.dq_ds)) / (2 * h);
  e.q_ll = (lp.dq_dl - lm.dq_dl) / (2 * h);
  e.p_ss = (sp.dp_ds - sm.dp_ds) / (2 * h);
  e.p_sl = 0.5 * ((sp.dp_dl - sm.dp_dl) + (lp.dp_ds - lm.dp_ds)) / (2 * h);
  e.p_ll = (lp.dp_dl - lm.dp_dl) / (2 * h);
  return e;
}

double LevelAt(const NlpProblem& pr, const Number* x, int k) {
  return k == 0 ? pr.level0_m : x[pr.level_index(k)];
}

const char* StatusName(Ipopt::ApplicationReturnStatus s) {
  switch (s) {
    case Ipopt::Solve_Succeeded: return "solve_succeeded";
    case Ipopt::Solved_To_Acceptable_Level: return "solved_to_acceptable_level";
    case Ipopt::Infeasible_Problem_Detected: return "infeasible_problem_detected";
    case Ipopt::Search_Direction_Becomes_Too_Small: return "search_direction_becomes_too_small";
    case Ipopt::Diverging_Iterates: return "diverging_iterates";
    case Ipopt::User_Requested_Stop: return "user_requested_stop";
    case Ipopt::Feasible_Point_Found: return "feasible_point_found";
    case Ipopt::Maximum_Iterations_Exceeded: return "maximum_iterations_exceeded";
    case Ipopt::Restoration_Failed: return "restoration_failed";
    case Ipopt::Error_In_Step_Computation: return "error_in_step_computation";
    case Ipopt::Maximum_CpuTime_Exceeded: return "maximum_cputime_exceeded";
    case Ipopt::Not_Enough_Degrees_Of_Freedom: return "not_enough_degrees_of_freedom";
    case Ipopt::Invalid_Problem_Definition: return "invalid_problem_definition";
    case Ipopt::Invalid_Option: return "invalid_option";
    case Ipopt::Invalid_Number_Detected: return "invalid_number_detected";
    default: return "ipopt_internal_error";
  }
}

class StationNlp final : public Ipopt::TNLP {
 public:
  StationNlp(const NlpProblem& pr, const std::vector<double>& x0, NlpResult* out)
      : pr_(pr), x0_(x0), out_(out), eval_(static_cast<size_t>(pr.steps * pr.pumps)) {}

  bool get_nlp_info(Index& n, Index& m, Index& nnz_jac, Index& nnz_h, IndexStyleEnum& style) override {
    const int N = pr_.steps, P = pr_.pumps;
    n = pr_.num_vars();
    m = 3 * N + (N - 1) * P + (pr_.terminal ? 1 : 0);
    // dynamics: L_{k+1}, L_k (k >= 1), and (s, d) per pump; band: 2 each; rate: 2 each;
    // terminal: L_k (k >= 1), L_k+1, e_T.
    nnz_jac = N + (N - 1) + 2 * N * P + 4 * N + 2 * (N - 1) * P;
    if (pr_.terminal) nnz_jac += pr_.terminal_step > 0 ? 3 : 2;
    BuildHessianStructure();
    nnz_h = static_cast<Index>(hess_rows_.size());
    style = C_STYLE;
    return true;
  }

  bool get_bounds_info(Index n, Number* xl, Number* xu, Index m, Number* gl, Number* gu) override {
    const int N = pr_.steps, P = pr_.pumps;
    for (int k = 0; k < N; ++k) {
      for (int i = 0; i < P; ++i) {
        xl[pr_.s_index(k, i)] = k == 0 ? pr_.s0_lo[i] : pr_.s_lo[i];
        xu[pr_.s_index(k, i)] = k == 0 ? pr_.s0_hi[i] : pr_.s_hi[i];
        xl[pr_.d_index(k, i)] = 0;
        xu[pr_.d_index(k, i)] = 1;
      }
    }
    for (int k = 1; k <= N; ++k) {
      xl[pr_.level_index(k)] = 0;
      xu[pr_.level_index(k)] = pr_.station->tank_height_m;
      xl[pr_.slack_index(k)] = 0;
      xu[pr_.slack_index(k)] = pr_.station->tank_height_m;
    }
    if (pr_.terminal) {
      xl[pr_.terminal_index()] = 0;
      xu[pr_.terminal_index()] = pr_.station->tank_height_m;
    }
    int r = 0;
    for (int k = 0; k < N; ++k, ++r) gl[r] = gu[r] = 0;  // dynamics
    for (int k = 1; k <= N; ++k, ++r) {                  // L_k + e_k >= lo
      gl[r] = pr_.band_lo_m;
      gu[r] = 2e19;
    }
    for (int k = 1; k <= N; ++k, ++r) {  // L_k − e_k <= hi
      gl[r] = -2e19;
      gu[r] = pr_.band_hi_m;
    }
    for (int k = 1; k < N; ++k) {
      for (int i = 0; i < P; ++i, ++r) {
        gl[r] = -pr_.rate_limit[k];
        gu[r] = pr_.rate_limit[k];
      }
    }
    if (pr_.terminal) {
      // The constant part (1 − f)·L_0 of a terminal point inside step 0 is in g.
      gl[r] = pr_.terminal_level_m;
      gu[r] = 2e19;
      ++r;
    }
    return r == m && n == pr_.num_vars();
  }

  bool get_starting_point(Index n, bool init_x, Number* x, bool, Number*, Number*, Index, bool,
                          Number*) override {
    if (init_x) std::memcpy(x, x0_.data(), sizeof(double) * static_cast<size_t>(n));
    return true;
  }

  bool eval_f(Index n, const Number* x, bool, Number& f) override {
    Evaluate(x);
    const int N = pr_.steps, P = pr_.pumps;
    double v = 0;
    for (int k = 0; k < N; ++k) {
      for (int i = 0; i < P; ++i) v += pr_.cost_eur_kw[k] * x[pr_.d_index(k, i)] * At(k, i).p;
      const double e = x[pr_.slack_index(k + 1)];
      v += pr_.rho1 * e + pr_.rho2 * e * e;
      for (int i = 0; i < P; ++i) {
        const double dd = x[pr_.d_index(k, i)] - (k == 0 ? pr_.d_prev[i] : x[pr_.d_index(k - 1, i)]);
        v += pr_.switch_cost * dd * dd;
        if (k > 0 || pr_.d_prev[i] > 0) {
          const double ds = x[pr_.s_index(k, i)] - (k == 0 ? pr_.s_prev[i] : x[pr_.s_index(k - 1, i)]);
          v += pr_.speed_smoothing * ds * ds;
        }
      }
    }
    v -= pr_.terminal_value_eur_m3 * pr_.station->tank_area_m2 * x[pr_.level_index(N)];
    if (pr_.terminal) {
      const double e = x[pr_.terminal_index()];
      v += pr_.terminal_rho1 * e + pr_.rho2 * e * e;
    }
    f = v;
    return true;
  }

  bool eval_grad_f(Index n, const Number* x, bool, Number* g) override {
    Evaluate(x);
    const int N = pr_.steps, P = pr_.pumps;
    std::fill(g, g + n, 0.0);
    for (int k = 0; k < N; ++k) {
      for (int i = 0; i < P; ++i) {
        const PumpEval& e = At(k, i);
        const double d = x[pr_.d_index(k, i)];
        const double c = pr_.cost_eur_kw[k];
        g[pr_.d_index(k, i)] += c * e.p;
        g[pr_.s_index(k, i)] += c * d * e.dp_ds;
        // P depends on the mid level (L_k + L_k+1)/2.
        g[pr_.level_index(k + 1)] += 0.5 * c * d * e.dp_dl;
        if (k > 0) g[pr_.level_index(k)] += 0.5 * c * d * e.dp_dl;
        const double dd = d - (k == 0 ? pr_.d_prev[i] : x[pr_.d_index(k - 1, i)]);
        g[pr_.d_index(k, i)] += 2 * pr_.switch_cost * dd;
        if (k > 0) g[pr_.d_index(k - 1, i)] -= 2 * pr_.switch_cost * dd;
        if (k > 0 || pr_.d_prev[i] > 0) {
          const double ds = x[pr_.s_index(k, i)] - (k == 0 ? pr_.s_prev[i] : x[pr_.s_index(k - 1, i)]);
          g[pr_.s_index(k, i)] += 2 * pr_.speed_smoothing * ds;
          if (k > 0) g[pr_.s_index(k - 1, i)] -= 2 * pr_.speed_smoothing * ds;
        }
      }
      const double e = x[pr_.slack_index(k + 1)];
      g[pr_.slack_index(k + 1)] += pr_.rho1 + 2 * pr_.rho2 * e;
    }
    g[pr_.level_index(N)] -= pr_.terminal_value_eur_m3 * pr_.station->tank_area_m2;
    if (pr_.terminal) g[pr_.terminal_index()] += pr_.terminal_rho1 + 2 * pr_.rho2 * x[pr_.terminal_index()];
    return true;
  }

  bool eval_g(Index, const Number* x, bool, Index m, Number* g) override {
    Evaluate(x);
    const int N = pr_.steps, P = pr_.pumps;
    const double area = pr_.station->tank_area_m2;
    int r = 0;
    for (int k = 0; k < N; ++k, ++r) {
      double inflow = 0;
      for (int i = 0; i < P; ++i) inflow += x[pr_.d_index(k, i)] * At(k, i).q;
      const double a = pr_.dt_s[k] / (3600.0 * area);
      g[r] = LevelAt(pr_, x, k + 1) - LevelAt(pr_, x, k) - a * (inflow - pr_.demand_m3h[k]);
    }
    for (int k = 1; k <= N; ++k, ++r) g[r] = x[pr_.level_index(k)] + x[pr_.slack_index(k)];
    for (int k = 1; k <= N; ++k, ++r) g[r] = x[pr_.level_index(k)] - x[pr_.slack_index(k)];
    for (int k = 1; k < N; ++k) {
      for (int i = 0; i < P; ++i, ++r) g[r] = x[pr_.s_index(k, i)] - x[pr_.s_index(k - 1, i)];
    }
    if (pr_.terminal) g[r++] = pr_.TerminalLevel(x) + x[pr_.terminal_index()];
    return r == m;
  }

  bool eval_jac_g(Index, const Number* x, bool, Index, Index nele, Index* row, Index* col,
                  Number* val) override {
    const int N = pr_.steps, P = pr_.pumps;
    const double area = pr_.station->tank_area_m2;
    if (val == nullptr) {
      int z = 0, r = 0;
      auto put = [&](int rr, int cc) {
        row[z] = rr;
        col[z] = cc;
        ++z;
      };
      for (int k = 0; k < N; ++k, ++r) {
        put(r, pr_.level_index(k + 1));
        if (k > 0) put(r, pr_.level_index(k));
        for (int i = 0; i < P; ++i) {
          put(r, pr_.s_index(k, i));
          put(r, pr_.d_index(k, i));
        }
      }
      for (int k = 1; k <= N; ++k, ++r) {
        put(r, pr_.level_index(k));
        put(r, pr_.slack_index(k));
      }
      for (int k = 1; k <= N; ++k, ++r) {
        put(r, pr_.level_index(k));
        put(r, pr_.slack_index(k));
      }
      for (int k = 1; k < N; ++k) {
        for (int i = 0; i < P; ++i, ++r) {
          put(r, pr_.s_index(k, i));
          put(r, pr_.s_index(k - 1, i));
        }
      }
      if (pr_.terminal) {
        if (pr_.terminal_step > 0) put(r, pr_.level_index(pr_.terminal_step));
        put(r, pr_.level_index(pr_.terminal_step + 1));
        put(r, pr_.terminal_index());
      }
      return z == nele;
    }
    Evaluate(x);
    int z = 0;
    for (int k = 0; k < N; ++k) {
      const double a = pr_.dt_s[k] / (3600.0 * area);
      double dq_dl = 0;  // Σ d·∂Q/∂L̄
      for (int i = 0; i < P; ++i) dq_dl += x[pr_.d_index(k, i)] * At(k, i).dq_dl;
      val[z++] = 1.0 - 0.5 * a * dq_dl;
      if (k > 0) val[z++] = -1.0 - 0.5 * a * dq_dl;
      for (int i = 0; i < P; ++i) {
        val[z++] = -a * x[pr_.d_index(k, i)] * At(k, i).dq_ds;
        val[z++] = -a * At(k, i).q;
      }
    }
    for (int k = 1; k <= N; ++k) {
      val[z++] = 1;
      val[z++] = 1;
    }
    for (int k = 1; k <= N; ++k) {
      val[z++] = 1;
      val[z++] = -1;
    }
    for (int k = 1; k < N; ++k) {
      for (int i = 0; i < P; ++i) {
        val[z++] = 1;
        val[z++] = -1;
      }
    }
    if (pr_.terminal) {
      if (pr_.terminal_step > 0) val[z++] = 1 - pr_.terminal_frac;
      val[z++] = pr_.terminal_frac;
      val[z++] = 1;
    }
    return z == nele;
  }

  bool eval_h(Index, const Number* x, bool, Number sigma, Index, const Number* lambda, bool, Index nele,
              Index* row, Index* col, Number* val) override {
    if (val == nullptr) {
      for (Index z = 0; z < nele; ++z) {
        row[z] = hess_rows_[static_cast<size_t>(z)];
        col[z] = hess_cols_[static_cast<size_t>(z)];
      }
      return true;
    }
    Evaluate(x);
    std::fill(val, val + nele, 0.0);
    size_t tape = 0;
    TraverseHessian(x, sigma, lambda, [&](int, int, double v) { val[hess_tape_[tape++]] += v; });
    return tape == hess_tape_.size();
  }

  void finalize_solution(Ipopt::SolverReturn, Index n, const Number* x, const Number*, const Number*, Index,
                         const Number*, const Number*, Number obj, const Ipopt::IpoptData*,
                         Ipopt::IpoptCalculatedQuantities*) override {
    out_->x.assign(x, x + n);
    out_->objective = obj;
  }

  bool intermediate_callback(Ipopt::AlgorithmMode, Index iter, Number, Number, Number, Number, Number, Number,
                             Number, Number, Index, const Ipopt::IpoptData*,
                             Ipopt::IpoptCalculatedQuantities*) override {
    out_->iterations = iter;
    return true;
  }

 private:
  const PumpEval& At(int k, int i) const { return eval_[static_cast<size_t>(k * pr_.pumps + i)]; }

  // Emits every (row, col, value) contribution to the lower triangle of the Lagrangian's
  // Hessian, in a fixed order (the structure pass records the order as a tape of slots).
  template <typename Emit>
  void TraverseHessian(const Number* x, double sigma, const Number* lambda, Emit emit) const {
    const int N = pr_.steps, P = pr_.pumps;
    const double area = pr_.station->tank_area_m2;
    auto add = [&](int r, int c, double v) {
      if (r < c) std::swap(r, c);
      emit(r, c, v);
    };
    for (int k = 0; k < N; ++k) {
      const double a = pr_.dt_s[k] / (3600.0 * area);
      const double lam = lambda ? lambda[k] : 0.0;
      const double cs = sigma * pr_.cost_eur_kw[k];
      // Σ_i d_i·F_i(s_i, m), F = σ·c·P − λ·a·Q, m = (L_k + L_k+1)/2.
      const int l1 = pr_.level_index(k + 1), l0 = k > 0 ? pr_.level_index(k) : -1;
      double f_mm = 0;
      for (int i = 0; i < P; ++i) {
        const PumpEval& e = At(k, i);
        const double d = x ? x[pr_.d_index(k, i)] : 0.0;
        const double f_s = cs * e.dp_ds - lam * a * e.dq_ds;
        const double f_m = cs * e.dp_dl - lam * a * e.dq_dl;
        const double f_ss = cs * e.p_ss - lam * a * e.q_ss;
        const double f_sm = cs * e.p_sl - lam * a * e.q_sl;
        f_mm += d * (cs * e.p_ll - lam * a * e.q_ll);
        const int si = pr_.s_index(k, i), di = pr_.d_index(k, i);
        add(si, si, d * f_ss);
        add(di, si, f_s);
        add(si, l1, 0.5 * d * f_sm);
        add(di, l1, 0.5 * f_m);
        if (l0 >= 0) {
          add(si, l0, 0.5 * d * f_sm);
          add(di, l0, 0.5 * f_m);
        }
      }
      add(l1, l1, 0.25 * f_mm);
      if (l0 >= 0) {
        add(l0, l0, 0.25 * f_mm);
        add(l1, l0, 0.25 * f_mm);
      }
      // Quadratic terms.
      for (int i = 0; i < P; ++i) {
        const int di = pr_.d_index(k, i), si = pr_.s_index(k, i);
        const double w = 2 * sigma * pr_.switch_cost, ws = 2 * sigma * pr_.speed_smoothing;
        add(di, di, w);
        if (k > 0) {
          add(pr_.d_index(k - 1, i), pr_.d_index(k - 1, i), w);
          add(di, pr_.d_index(k - 1, i), -w);
          add(pr_.s_index(k - 1, i), pr_.s_index(k - 1, i), ws);
          add(si, pr_.s_index(k - 1, i), -ws);
        }
        if (k > 0 || pr_.d_prev[i] > 0) add(si, si, ws);
      }
      add(pr_.slack_index(k + 1), pr_.slack_index(k + 1), 2 * sigma * pr_.rho2);
    }
    if (pr_.terminal) add(pr_.terminal_index(), pr_.terminal_index(), 2 * sigma * pr_.rho2);
  }

  void BuildHessianStructure() {
    if (!hess_tape_.empty()) return;
    std::map<std::pair<int, int>, size_t> slots;
    TraverseHessian(nullptr, 0.0, nullptr, [&](int r, int c, double) {
      auto [it, inserted] = slots.emplace(std::make_pair(r, c), hess_rows_.size());
      if (inserted) {
        hess_rows_.push_back(r);
        hess_cols_.push_back(c);
      }
      hess_tape_.push_back(it->second);
    });
  }

  void Evaluate(const Number* x) {
    const size_t n = static_cast<size_t>(pr_.num_vars());
    if (cached_.size() == n && std::memcmp(cached_.data(), x, n * sizeof(double)) == 0) return;
    cached_.assign(x, x + n);
    for (int k = 0; k < pr_.steps; ++k) {
      const double mid = 0.5 * (LevelAt(pr_, x, k) + LevelAt(pr_, x, k + 1));
      for (int i = 0; i < pr_.pumps; ++i) {
        eval_[static_cast<size_t>(k * pr_.pumps + i)] =
            EvalWithHessian(pr_.station->pumps[static_cast<size_t>(i)], pr_.station->static_lift_m,
                            x[pr_.s_index(k, i)], mid);
      }
    }
  }

  const NlpProblem& pr_;
  const std::vector<double>& x0_;
  NlpResult* out_;
  std::vector<PumpEval> eval_;
  std::vector<double> cached_;
  std::vector<Index> hess_rows_, hess_cols_;
  std::vector<size_t> hess_tape_;
};

std::mutex& IpoptMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

NlpResult SolveNlp(const NlpProblem& problem, const std::vector<double>& x0) {
  NlpResult out;
  std::lock_guard<std::mutex> lock(IpoptMutex());
  Ipopt::SmartPtr<Ipopt::IpoptApplication> app = IpoptApplicationFactory();
  app->Options()->SetIntegerValue("print_level", 0);
  app->Options()->SetStringValue("sb", "yes");
  app->Options()->SetStringValue("mu_strategy", "adaptive");
  app->Options()->SetNumericValue("tol", problem.tolerance);
  app->Options()->SetNumericValue("acceptable_tol", problem.tolerance * 100);
  app->Options()->SetIntegerValue("max_iter", problem.max_iterations);
  app->Options()->SetNumericValue("max_cpu_time", problem.max_cpu_s);
  if (problem.warm && problem.warm_mu_init > 0) {
    app->Options()->SetNumericValue("mu_init", problem.warm_mu_init);
    app->Options()->SetNumericValue("bound_push", 1e-6);
    app->Options()->SetNumericValue("bound_frac", 1e-6);
    app->Options()->SetNumericValue("slack_bound_push", 1e-6);
    app->Options()->SetNumericValue("slack_bound_frac", 1e-6);
  }
  if (app->Initialize() != Ipopt::Solve_Succeeded) {
    out.status = "ipopt_initialize_failed";
    return out;
  }
  Ipopt::SmartPtr<Ipopt::TNLP> nlp = new StationNlp(problem, x0, &out);
  Ipopt::ApplicationReturnStatus st = app->OptimizeTNLP(nlp);
  out.status = StatusName(st);
  out.ok = (st == Ipopt::Solve_Succeeded || st == Ipopt::Solved_To_Acceptable_Level) &&
           out.x.size() == static_cast<size_t>(problem.num_vars());
  return out;
}

double PlannedEnergyCost(const NlpProblem& pr, const std::vector<double>& x) {
  double v = 0;
  for (int k = 0; k < pr.steps; ++k) {
    const double mid = 0.5 * (LevelAt(pr, x.data(), k) + LevelAt(pr, x.data(), k + 1));
    for (int i = 0; i < pr.pumps; ++i) {
      PumpPointT<double> pt =
          EvalPump<double>(pr.station->pumps[static_cast<size_t>(i)], pr.station->static_lift_m,
                           x[static_cast<size_t>(pr.s_index(k, i))], mid);
      v += pr.cost_eur_kw[static_cast<size_t>(k)] * x[static_cast<size_t>(pr.d_index(k, i))] *
           pt.shaft_power_kw;
    }
  }
  return v;
}

}  // namespace doppel::control::internal
