# Fits every dataset in one input CSV with R metafor and writes one row per (dataset, variant) to the output CSV.
# Run by tests/core/stats/test_metafor_agreement.py: Rscript metafor_fits.R IN.csv OUT.csv
# IN columns: dataset, drop00 (1/0), ai, n1i, ci, n2i (one row per study).
# OUT columns: dataset, variant, status ("ok" or the R error), version, k, estimate, se, ci_lb, ci_ub, tau2, QE, I2,
# pi_lb, pi_ub; numbers with 17 significant digits so nothing is lost in the round trip.
suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
studies <- read.csv(args[1])
version <- as.character(packageVersion("metafor"))
# metafor stops Fisher scoring when tau2 moves by less than 1e-5 (its default), which can leave a boundary
# estimate ~1e-5 above 0; the engine converges to 1e-10, so the reference is asked to converge as tightly.
reml_control <- list(threshold = 1e-12, maxiter = 10000)

num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x[1])) "NA" else sprintf("%.17g", as.numeric(x[1]))

row_of <- function(dataset, variant, fit, pred = NULL) {
  if (is.character(fit)) {
    return(c(dataset, variant, fit, version, rep("NA", 10)))
  }
  c(dataset, variant, "ok", version, num(fit$k), num(fit$beta), num(fit$se), num(fit$ci.lb), num(fit$ci.ub),
    num(fit$tau2), num(fit$QE), num(fit$I2),
    if (is.null(pred)) c("NA", "NA") else c(num(pred$pi.lb), num(pred$pi.ub)))
}

attempt <- function(expr) {
  tryCatch(suppressWarnings(expr), error = function(e) gsub("[\r\n,\"]", " ", conditionMessage(e)))
}

rows <- list()
for (id in unique(studies$dataset)) {
  s <- studies[studies$dataset == id, ]
  drop00 <- s$drop00[1] == 1
  mh <- attempt(rma.mh(measure = "RR", ai = s$ai, n1i = s$n1i, ci = s$ci, n2i = s$n2i, drop00 = drop00))
  rows[[length(rows) + 1]] <- row_of(id, "mh", mh)
  for (method in c("EE", "DL", "REML")) {
    for (test in c("z", "knha")) {
      fit <- attempt(rma(measure = "RR", ai = s$ai, n1i = s$n1i, ci = s$ci, n2i = s$n2i, drop00 = drop00,
                         method = method, test = test, control = reml_control))
      pred <- if (is.character(fit) || method == "EE") NULL else predict(fit)
      name <- c(EE = "iv", DL = "dl", REML = "reml")[[method]]
      rows[[length(rows) + 1]] <- row_of(id, if (test == "knha") paste0(name, "-hksj") else name, fit, pred)
    }
  }
}

header <- c("dataset", "variant", "status", "version", "k", "estimate", "se", "ci_lb", "ci_ub", "tau2", "QE", "I2",
            "pi_lb", "pi_ub")
writeLines(c(paste(header, collapse = ","), vapply(rows, paste, "", collapse = ",")), args[2])
