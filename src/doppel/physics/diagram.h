// Diagrams: systems composed by wiring outputs to inputs by name (docs/physics.md).
//
//   DiagramBuilder b;
//   b.AddSystem(std::make_unique<PumpModel>("pump-1"));
//   b.AddSystem(std::make_unique<MotorThermalModel>("motor-1"));
//   b.Connect("pump-1", "shaft_power_kw", "motor-1", "power_kw");
//   b.ExportOutput("motor-1", "motor_temp_c", "pump-1.motor_temp_c");   // optional rename
//   auto d = std::move(b).Build("station");   // Result<std::unique_ptr<Diagram>>
//
// A Diagram is itself a System:
//   * states and parameters: every subsystem's, concatenated in AddSystem order, named
//     "<subsystem>.<name>";
//   * outputs: every subsystem output, concatenated in AddSystem order, named
//     "<subsystem>.<name>" unless renamed by ExportOutput;
//   * inputs: every subsystem input not wired by Connect, in AddSystem order, named
//     "<subsystem>.<name>" unless renamed by ExportInput.
// Subsystems are evaluated in an order where a system whose outputs depend on its inputs
// (HasDirectFeedthrough) comes after the systems feeding it; a cycle through such systems is an
// algebraic loop and Build() rejects it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "doppel/physics/system.h"

namespace doppel::physics {

class Diagram;

class DiagramBuilder {
 public:
  // Takes ownership; returns the system (owned by the builder, then by the diagram). Subsystem
  // names must be unique and must not contain '.' (checked by Build).
  System* AddSystem(std::unique_ptr<System> system);
  // Wires output `output` of subsystem `from` to input `input` of subsystem `to`.
  void Connect(std::string from, std::string output, std::string to, std::string input);
  // Renames a diagram input (an unwired subsystem input) or output.
  void ExportInput(std::string system, std::string input, std::string exported_name);
  void ExportOutput(std::string system, std::string output, std::string exported_name);

  // Checks names, wiring (each input wired at most once, units equal), and loops.
  Result<std::unique_ptr<Diagram>> Build(std::string name) &&;

 private:
  struct Wire {
    std::string from, output, to, input;
  };
  struct Rename {
    std::string system, signal, exported;
  };
  std::vector<std::unique_ptr<System>> systems_;
  std::vector<Wire> wires_;
  std::vector<Rename> input_names_, output_names_;
};

class Diagram final : public System {
 public:
  int num_subsystems() const { return static_cast<int>(subs_.size()); }
  const System& subsystem(int i) const { return *subs_[static_cast<size_t>(i)]; }
  // Index of the named subsystem, or -1.
  int SubsystemIndex(std::string_view name) const;
  // Offsets of subsystem i's block in the diagram's state, parameter and output vectors.
  int state_offset(int i) const { return x_off_[static_cast<size_t>(i)]; }
  int parameter_offset(int i) const { return p_off_[static_cast<size_t>(i)]; }
  int output_offset(int i) const { return y_off_[static_cast<size_t>(i)]; }

  bool HasDirectFeedthrough() const override { return feedthrough_; }
  void CalcDerivatives(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                       OutVec<double> xdot) const override;
  void CalcDerivatives(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                       OutVec<AutoDiffXd> xdot) const override;
  void CalcDerivatives(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                       OutVec<AutoDiff8> xdot) const override;
  void CalcOutputs(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                   OutVec<double> y) const override;
  void CalcOutputs(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                   OutVec<AutoDiffXd> y) const override;
  void CalcOutputs(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                   OutVec<AutoDiff8> y) const override;

 private:
  friend class DiagramBuilder;
  explicit Diagram(std::string name) : System(std::move(name)) {}

  // Where a subsystem input's value comes from: a diagram output (Y index) or a diagram input.
  struct Source {
    bool from_output = false;
    int index = 0;
  };
  template <typename T, typename Y, typename U>
  void EvalAll(double t, InVec<T> x, InVec<T> u, InVec<T> p, Y& y, U& uu) const;
  template <typename T, typename Y, typename U>
  void GatherInputs(int sub, InVec<T> u, const Y& y, U& uu) const;
  template <typename T>
  void Derivatives(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> xdot) const;
  template <typename T>
  void Outputs(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> y) const;

  std::vector<std::unique_ptr<System>> subs_;
  std::vector<int> x_off_, p_off_, y_off_, u_off_;  // per subsystem (u_off_: into all-inputs)
  std::vector<Source> src_;                         // per subsystem input (all-inputs order)
  std::vector<int> order_;                          // evaluation order
  int total_inputs_ = 0;
  bool feedthrough_ = false;
};

}  // namespace doppel::physics
