// `doppel fit --data DIR --twin ID --from T0 --to T1 [--params a,b] [--level-twin tank-1]
//              [--max-samples N] [--online [--forgetting 0.999]]`
//
// Fits parameters of the pump twin's nominal model (physics::MakePumpTwinDiagram) to a twin's
// stored history with Ceres (Levenberg–Marquardt, bounded), and prints the fit error per output
// before (nominal) and after, then one JSON line. With --online the same samples go, in time
// order, through estimate::RecursiveFit (recursive least squares with exponential forgetting):
// the parameters as they stand after the last sample, their trajectory, and the same error table.
//
// The fit is quasi-static: every stored message gives the measured speed and motor temperature
// (the model's states, measured directly with small noise) and the tank level (input, from the
// level twin's history, zero-order hold); the residuals are the other sensors — flow, discharge
// pressure, power, vibration — minus the model's outputs at that state, each divided by its
// sensor noise std. Default parameters: impeller_wear, bearing_wear. Calibrating a pump's curve
// instead: --params shutoff_head_m,curve_k,bearing_wear (H0 and impeller wear are only told
// apart through efficiency, i.e. power; fit one or the other).
#include <ceres/ceres.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "doppel/app/commands.h"
#include "doppel/estimate/recursive_fit.h"
#include "doppel/physics/station.h"
#include "doppel/platform/env.h"
#include "doppel/store/series_store.h"

namespace doppel::app {
namespace {

using physics::SignalKind;

const std::vector<std::string> kResidualSignals = {"flow_m3h", "discharge_pressure_bar", "power_kw",
                                                   "vibration_mm_s"};
const double kStd[] = {1.0, 0.01, 0.1};  // sensor noise of flow, pressure, power

// The vibration sensor's noise grows with the vibration: 0.05 mm/s + 3 % of the true value. The
// true value is unknown, so both fits take it from the model's prediction at the current
// parameters (iteratively reweighted least squares), never from the reading itself: weighting by
// the reading favours readings that came out low, and biases the vibration, hence the bearing
// wear, low.
constexpr int kVibration = 3;
double VibrationStd(double vibration_mm_s) { return 0.05 + 0.03 * std::abs(vibration_mm_s); }

struct Row {
  TimeNs ts = 0;
  Eigen::VectorXd x, u;
  double y[4];
  bool present[4];
  double sd[4];
};

struct Residual {
  const physics::System* sys;
  const Row* row;
  Eigen::VectorXd p0;
  std::vector<int> fit;   // parameter indices
  std::vector<int> outs;  // output indices of kResidualSignals
  bool operator()(double const* const* params, double* residuals) const {
    Eigen::VectorXd p = p0;
    for (size_t i = 0; i < fit.size(); ++i) p[fit[i]] = params[0][i];
    Eigen::VectorXd y(sys->num_outputs());
    sys->CalcOutputs(0.0, row->x, row->u, p, y);
    for (int k = 0; k < 4; ++k) {
      residuals[k] = row->present[k] ? (row->y[k] - y[outs[static_cast<size_t>(k)]]) / row->sd[k] : 0.0;
    }
    return true;
  }
};

// Sets each row's vibration noise from the model's vibration at parameters p.
void ReweightVibration(const physics::System& sys, const Eigen::VectorXd& p, const std::vector<int>& outs,
                       std::vector<Row>* rows) {
  Eigen::VectorXd y(sys.num_outputs());
  for (Row& r : *rows) {
    sys.CalcOutputs(0.0, r.x, r.u, p, y);
    r.sd[kVibration] = VibrationStd(y[outs[kVibration]]);
  }
}

std::string Arg(const std::vector<std::string>& args, const std::string& key, const std::string& def = "") {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--" + key && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--" + key + "=", 0) == 0) return args[i].substr(key.size() + 3);
  }
  return def;
}

struct ErrorStats {
  double rmse = 0, bias = 0;
  int n = 0;
};

std::vector<ErrorStats> Errors(const physics::System& sys, const std::vector<Row>& rows,
                               const Eigen::VectorXd& p, const std::vector<int>& outs) {
  std::vector<ErrorStats> e(4);
  Eigen::VectorXd y(sys.num_outputs());
  for (const Row& r : rows) {
    sys.CalcOutputs(0.0, r.x, r.u, p, y);
    for (int k = 0; k < 4; ++k) {
      if (!r.present[k]) continue;
      const double d = r.y[k] - y[outs[static_cast<size_t>(k)]];
      e[static_cast<size_t>(k)].rmse += d * d;
      e[static_cast<size_t>(k)].bias += d;
      ++e[static_cast<size_t>(k)].n;
    }
  }
  for (auto& s : e) {
    if (s.n > 0) {
      s.rmse = std::sqrt(s.rmse / s.n);
      s.bias /= s.n;
    }
  }
  return e;
}

// The serve config's `calibration:` entry for what was fitted (docs/config.md "calibration").
void PrintCalibrationEntry(const physics::System& sys, const std::string& twin, const std::vector<int>& fit,
                           const Eigen::VectorXd& p) {
  std::string params;
  for (int i : fit) {
    params += fmt::format("{}{}: {:.6g}", params.empty() ? "" : ", ",
                          sys.parameters()[static_cast<size_t>(i)].name, p[i]);
  }
  std::cout << fmt::format(
      "calibration entry (serve config, docs/config.md):\n  - {{twins: {}, parameters: {{{}}}}}\n", twin,
      params);
}

void PrintErrors(const std::vector<ErrorStats>& before, const std::vector<ErrorStats>& after,
                 nlohmann::json* jo) {
  std::cout << fmt::format("{:<28} {:>12} {:>12} {:>12} {:>12}\n", "output", "rmse nominal", "rmse fitted",
                           "bias fitted", "samples");
  *jo = nlohmann::json::object();
  for (int k = 0; k < 4; ++k) {
    const auto& b = before[static_cast<size_t>(k)];
    const auto& a = after[static_cast<size_t>(k)];
    std::cout << fmt::format("{:<28} {:>12.4g} {:>12.4g} {:>12.4g} {:>12}\n",
                             kResidualSignals[static_cast<size_t>(k)], b.rmse, a.rmse, a.bias, a.n);
    (*jo)[kResidualSignals[static_cast<size_t>(k)]] = {
        {"rmse_nominal", b.rmse}, {"rmse", a.rmse}, {"bias", a.bias}, {"samples", a.n}};
  }
}

// --online: the samples in time order through estimate::RecursiveFit. Prior: the nominal value
// with estimate::DefaultParameterPrior's std and bounds (the batch fit's bounds too). The error table uses
// the final parameters over all samples (a changing parameter shows as a bias there; the trajectory shows the
// change).
int RunOnlineFit(const physics::System& sys, const std::string& twin, const std::vector<Row>& rows,
                 size_t messages, const std::vector<int>& fit, const std::vector<int>& outs,
                 const Eigen::VectorXd& p0, double forgetting) {
  estimate::RecursiveFitOptions o;
  o.forgetting = forgetting;
  const auto n = static_cast<Eigen::Index>(fit.size());
  o.initial_std.resize(n);
  o.lower_bound.resize(n);
  o.upper_bound.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const int j = fit[static_cast<size_t>(i)];
    const std::string& name = sys.parameters()[static_cast<size_t>(j)].name;
    o.parameters.push_back(name);
    const estimate::ParameterPrior prior = estimate::DefaultParameterPrior(name, p0[j]);
    o.initial_std[i] = prior.std;
    o.lower_bound[i] = prior.lower;
    o.upper_bound[i] = prior.upper;
  }
  o.outputs = kResidualSignals;
  auto rf = estimate::RecursiveFit::Create(sys, p0, o);
  if (!rf.ok()) return Fail(rf.status());
  nlohmann::json traj = nlohmann::json::array();
  const size_t every = std::max<size_t>(1, rows.size() / 10);
  size_t failed = 0;
  Eigen::VectorXd predicted(sys.num_outputs());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    Eigen::VectorXd y(4), sd(4);
    std::vector<bool> present(4);
    for (int k = 0; k < 4; ++k) {
      y[k] = r.y[k];
      sd[k] = r.sd[k];
      present[static_cast<size_t>(k)] = r.present[k];
    }
    sys.CalcOutputs(0.0, r.x, r.u, rf->all_parameters(), predicted);  // vibration noise: see VibrationStd
    sd[kVibration] = VibrationStd(predicted[outs[kVibration]]);
    if (!rf->Update(r.x, r.u, y, present, sd).ok()) ++failed;
    if ((i + 1) % every == 0 || i + 1 == rows.size()) {
      nlohmann::json pt = {{"ts_ns", r.ts}};
      for (Eigen::Index k = 0; k < n; ++k) pt[o.parameters[static_cast<size_t>(k)]] = rf->value()[k];
      traj.push_back(pt);
    }
  }
  const Eigen::VectorXd p = rf->all_parameters();
  const Eigen::VectorXd sdev = rf->stddev();
  std::cout << fmt::format(
      "twin {}: {} samples (of {} messages), {} parameters, online (forgetting {}), {} "
      "samples skipped\n",
      twin, rows.size(), messages, n, forgetting, failed);
  std::cout << fmt::format("{:<28} {:>12} {:>12} {:>10}\n", "parameter", "nominal", "online", "std");
  nlohmann::json jp = nlohmann::json::object();
  for (Eigen::Index i = 0; i < n; ++i) {
    const auto& s = sys.parameters()[static_cast<size_t>(fit[static_cast<size_t>(i)])];
    std::cout << fmt::format("{:<28} {:>12.5g} {:>12.5g} {:>10.3g}\n", s.name,
                             p0[fit[static_cast<size_t>(i)]], rf->value()[i], sdev[i]);
    jp[s.name] = {{"nominal", p0[fit[static_cast<size_t>(i)]]},
                  {"value", rf->value()[i]},
                  {"std", sdev[i]},
                  {"unit", s.unit}};
  }
  nlohmann::json jo;
  PrintErrors(Errors(sys, rows, p0, outs), Errors(sys, rows, p, outs), &jo);
  PrintCalibrationEntry(sys, twin, fit, p);
  nlohmann::json j = {{"fit", twin},
                      {"mode", "online"},
                      {"forgetting", forgetting},
                      {"samples", rows.size()},
                      {"skipped", failed},
                      {"parameters", jp},
                      {"outputs", jo},
                      {"trajectory", traj}};
  std::cout << j.dump() << "\n";
  return 0;
}
}  // namespace

int RunFit(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout
          << "usage: doppel fit --data DIR --twin ID --from T0 --to T1 [--params "
             "impeller_wear,bearing_wear]\n"
             "                  [--level-twin tank-1] [--max-samples 5000] [--online [--forgetting 0.999]]\n"
             "  T0, T1: ns since the epoch (source time). Fits the pump twin's parameters with Ceres;\n"
             "  --online: recursive least squares over the samples in time order (forgetting in (0, 1]).\n";
      return 0;
    }
  }
  const std::string data = Arg(args, "data"), twin = Arg(args, "twin");
  if (data.empty()) return Fail(InvalidArgument("--data: required (the serve data_dir)"));
  if (twin.empty()) return Fail(InvalidArgument("--twin: required (a pump twin id)"));
  TimeNs from = 0, to = 0;
  try {
    from = std::stoll(Arg(args, "from", "0"));
    to = std::stoll(Arg(args, "to", std::to_string(INT64_MAX)));
  } catch (const std::exception&) {
    return Fail(InvalidArgument("--from/--to: expected integers (ns since the epoch)"));
  }
  if (from > to) return Fail(InvalidArgument("--from: after --to"));
  const bool online = std::find(args.begin(), args.end(), "--online") != args.end();
  double forgetting = 0.999;
  if (const std::string f = Arg(args, "forgetting"); !f.empty()) {
    if (!online) return Fail(InvalidArgument("--forgetting: only with --online"));
    size_t used = 0;
    try {
      forgetting = std::stod(f, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != f.size() || !(forgetting > 0 && forgetting <= 1))
      return Fail(InvalidArgument("--forgetting: '" + f + "' is not a number in (0, 1]"));
  }
  const std::string level_twin = Arg(args, "level-twin", "tank-1");
  const size_t max_samples = std::stoul(Arg(args, "max-samples", "5000"));
  std::vector<std::string> names;
  {
    std::stringstream ss(Arg(args, "params", "impeller_wear,bearing_wear"));
    for (std::string s; std::getline(ss, s, ',');) {
      if (!s.empty()) names.push_back(s);
    }
  }
  spdlog::set_level(spdlog::level::warn);

  auto diagram = physics::MakePumpTwinDiagram();
  if (!diagram.ok()) return Fail(diagram.status());
  const physics::System& sys = **diagram;
  std::vector<int> fit;
  for (const auto& n : names) {
    int i = sys.IndexOf(SignalKind::kParameter, n);
    if (i < 0) i = sys.IndexOf(SignalKind::kParameter, "pump." + n);
    if (i < 0) i = sys.IndexOf(SignalKind::kParameter, "motor." + n);
    if (i < 0) return Fail(InvalidArgument("--params: unknown pump twin parameter '" + n + "'"));
    fit.push_back(i);
  }
  std::vector<int> outs;
  for (const auto& s : kResidualSignals) outs.push_back(sys.IndexOf(SignalKind::kOutput, s));

  platform::Env* env = platform::DefaultEnv();
  store::SeriesStoreOptions so;
  so.dir = env->FileExists(data + "/series") ? data + "/series" : data;
  so.read_only = true;
  auto st = store::SeriesStore::Open(env, so);
  if (!st.ok()) return Fail(st.status());
  auto load = [&](const std::string& t, const std::string& s) -> std::map<TimeNs, double> {
    std::map<TimeNs, double> m;
    auto q = (*st)->Query(t, s, from, to, 0);
    if (q.ok()) {
      for (const auto& x : *q) {
        if (x.quality != Quality::kBad && std::isfinite(x.value)) m[x.ts_ns] = x.value;
      }
    }
    return m;
  };
  auto speed = load(twin, "speed_rpm");
  auto temp = load(twin, "motor_temp_c");
  auto level = load(level_twin, "level_m");
  std::vector<std::map<TimeNs, double>> meas;
  for (const auto& s : kResidualSignals) meas.push_back(load(twin, s));
  if (speed.empty()) return Fail(NotFound("no speed_rpm history of '" + twin + "' in [from, to]"));

  // One row per stored message with a speed reading, thinned to max_samples.
  std::vector<Row> rows;
  const size_t stride = std::max<size_t>(1, speed.size() / std::max<size_t>(1, max_samples));
  size_t idx = 0;
  double last_temp = temp.empty() ? 40.0 : temp.begin()->second;
  const Eigen::VectorXd u0 = sys.DefaultValues(SignalKind::kInput);
  const int lvl = sys.IndexOf(SignalKind::kInput, "level_m");
  for (const auto& [ts, n] : speed) {
    if (auto it = temp.find(ts); it != temp.end()) last_temp = it->second;
    if (idx++ % stride != 0) continue;
    Row r;
    r.ts = ts;
    r.x.resize(2);
    r.x << n, last_temp;
    r.u = u0;
    if (!level.empty()) {
      auto it = level.upper_bound(ts);
      if (it != level.begin()) r.u[lvl] = std::prev(it)->second;
    }
    bool any = false;
    for (int k = 0; k < 4; ++k) {
      auto it = meas[static_cast<size_t>(k)].find(ts);
      r.present[k] = it != meas[static_cast<size_t>(k)].end();
      r.y[k] = r.present[k] ? it->second : 0;
      r.sd[k] = k == kVibration ? VibrationStd(r.y[k]) : kStd[k];  // first pass; reweighted below
      any |= r.present[k];
    }
    if (any) rows.push_back(std::move(r));
  }
  if (rows.empty()) return Fail(NotFound("no samples with both speed and another pump sensor"));

  const Eigen::VectorXd p0 = sys.DefaultValues(SignalKind::kParameter);
  if (online) return RunOnlineFit(sys, twin, rows, speed.size(), fit, outs, p0, forgetting);
  std::vector<double> theta;
  for (int i : fit) theta.push_back(p0[i]);
  ceres::Problem problem;
  for (const Row& r : rows) {
    auto* cost = new ceres::DynamicNumericDiffCostFunction<Residual, ceres::CENTRAL>(
        new Residual{&sys, &r, p0, fit, outs});
    cost->AddParameterBlock(static_cast<int>(theta.size()));
    cost->SetNumResiduals(4);
    problem.AddResidualBlock(cost, new ceres::HuberLoss(3.0), theta.data());
  }
  for (size_t i = 0; i < fit.size(); ++i) {
    const estimate::ParameterPrior b =
        estimate::DefaultParameterPrior(sys.parameters()[static_cast<size_t>(fit[i])].name, p0[fit[i]]);
    if (std::isfinite(b.lower)) problem.SetParameterLowerBound(theta.data(), static_cast<int>(i), b.lower);
    if (std::isfinite(b.upper)) problem.SetParameterUpperBound(theta.data(), static_cast<int>(i), b.upper);
  }
  ceres::Solver::Options opts;
  opts.linear_solver_type = ceres::DENSE_QR;
  opts.max_num_iterations = 100;
  opts.num_threads = 1;
  ceres::Solver::Summary summary;
  ceres::Solve(opts, &problem, &summary);
  size_t iterations = summary.iterations.size();
  // Reweighted once from the fitted model's vibration (VibrationStd), then solved again from there;
  // a second reweighting changes the estimates by far less than their std.
  {
    Eigen::VectorXd p = p0;
    for (size_t i = 0; i < fit.size(); ++i) p[fit[i]] = theta[i];
    ReweightVibration(sys, p, outs, &rows);
    ceres::Solver::Summary second;
    ceres::Solve(opts, &problem, &second);
    iterations += second.iterations.size();
    summary = second;
  }

  // Standard deviations from the Gauss–Newton covariance (residuals are in sensor-std units).
  std::vector<double> sdev(theta.size(), NAN);
  {
    ceres::Covariance::Options co;
    ceres::Covariance cov(co);
    std::vector<std::pair<const double*, const double*>> blocks = {{theta.data(), theta.data()}};
    if (cov.Compute(blocks, &problem)) {
      std::vector<double> c(theta.size() * theta.size());
      if (cov.GetCovarianceBlock(theta.data(), theta.data(), c.data())) {
        for (size_t i = 0; i < theta.size(); ++i) sdev[i] = std::sqrt(std::max(0.0, c[i * theta.size() + i]));
      }
    }
  }
  Eigen::VectorXd p = p0;
  for (size_t i = 0; i < fit.size(); ++i) p[fit[i]] = theta[i];
  auto before = Errors(sys, rows, p0, outs);
  auto after = Errors(sys, rows, p, outs);

  std::cout << fmt::format("twin {}: {} samples (of {} messages), {} parameters, ceres: {} ({} iterations)\n",
                           twin, rows.size(), speed.size(), fit.size(),
                           summary.termination_type == ceres::CONVERGENCE ? "converged" : "not converged",
                           iterations);
  std::cout << fmt::format("{:<28} {:>12} {:>12} {:>10}\n", "parameter", "nominal", "fitted", "std");
  nlohmann::json jp = nlohmann::json::object();
  for (size_t i = 0; i < fit.size(); ++i) {
    const auto& s = sys.parameters()[static_cast<size_t>(fit[i])];
    std::cout << fmt::format("{:<28} {:>12.5g} {:>12.5g} {:>10.3g}\n", s.name, p0[fit[i]], theta[i], sdev[i]);
    jp[s.name] = {{"nominal", p0[fit[i]]},
                  {"value", theta[i]},
                  {"std", std::isfinite(sdev[i]) ? nlohmann::json(sdev[i]) : nlohmann::json()},
                  {"unit", s.unit}};
  }
  nlohmann::json jo;
  PrintErrors(before, after, &jo);
  PrintCalibrationEntry(sys, twin, fit, p);
  nlohmann::json j = {{"fit", twin},
                      {"samples", rows.size()},
                      {"converged", summary.termination_type == ceres::CONVERGENCE},
                      {"final_cost", summary.final_cost},
                      {"parameters", jp},
                      {"outputs", jo}};
  std::cout << j.dump() << "\n";
  return summary.termination_type == ceres::FAILURE ? 1 : 0;
}

}  // namespace doppel::app
