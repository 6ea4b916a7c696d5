# Randomized differential reference for evidence.meta: random datasets of the
# kinds that broke it (issue 15) and R metafor's tight-control answers for every
# estimator, test and extra, into differential_metafor.json beside this script.
# Run here: Rscript make_differential.R   (Debian: apt-get install r-cran-metafor)
# The seed is fixed: the same R/metafor give the same file.
suppressMessages(library(metafor))
library(jsonlite)
set.seed(20261202)
ct <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
methods <- c("EE", "DL", "REML", "PM", "ML", "HE", "SJ")
kinds <- c("random", "small", "identical", "equalvar", "hugevar", "boundary")
n_sets <- 420
r12 <- function(x) signif(x, 12)  # inputs written exactly as they were fitted

make_set <- function(kind) {
  k <- if (kind == "small") sample(2:5, 1) else sample(2:40, 1)
  v <- r12(runif(k, 0.005, 0.5))
  tau2 <- sample(c(0, 0.02, 0.1, 0.5), 1)
  y <- rnorm(k, 0.3, sqrt(v + tau2))
  if (kind == "identical") y <- rep(round(rnorm(1), 3), k)
  if (kind == "equalvar") { v <- rep(v[1], k); y <- rnorm(k, 0.3, sqrt(v + tau2)) }
  if (kind == "hugevar") v[sample.int(k, 1)] <- r12(10^runif(1, 4, 8))
  if (kind == "boundary") { y <- rnorm(k, 0.3, sqrt(v)); y <- mean(y) + 0.3 * (y - mean(y)) }
  list(kind = kind, yi = r12(y), vi = v)
}

quiet <- function(expr) {  # value, or list(error=) ; warnings recorded, not printed
  w <- character(0)
  val <- withCallingHandlers(tryCatch(expr, error = function(e) list(error = conditionMessage(e))),
                             warning = function(x) { w <<- c(w, conditionMessage(x)); invokeRestart("muffleWarning") })
  if (length(w) && is.list(val)) val$warnings <- unique(w)
  val
}

fit <- function(yi, vi, method, test) quiet({
  r <- rma(yi, vi, method = method, test = test, control = ct)
  p <- predict(r)
  list(estimate = as.numeric(r$b), se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub, pval = r$pval,
       tau2 = r$tau2, I2 = r$I2, H2 = r$H2, Q = r$QE, Q_pval = r$QEp,
       pi_low = if (method == "EE") NA else p$pi.lb, pi_high = if (method == "EE") NA else p$pi.ub)
})

extras <- function(yi, vi) {
  k <- length(yi)
  out <- list()
  if (k >= 3) {
    for (m in c("DL", "REML")) {
      out[[paste0("leave1out_", m)]] <- quiet({
        l <- leave1out(rma(yi, vi, method = m, control = ct))
        list(estimate = as.numeric(l$estimate), se = as.numeric(l$se), tau2 = as.numeric(l$tau2))
      })
      out[[paste0("trimfill_", m)]] <- quiet({
        tf <- trimfill(rma(yi, vi, method = m, control = ct))
        # metafor refits the filled data with default controls; refit them tightly
        rf <- rma(tf$yi, tf$vi, method = m, control = ct)
        list(k0 = tf$k0, side = tf$side, estimate = as.numeric(rf$b), se = rf$se, tau2 = rf$tau2)
      })
    }
    out$egger <- quiet({
      eg <- regtest(rma(yi, vi, method = "DL"), model = "lm", predictor = "sei")
      list(zval = eg$zval, pval = eg$pval)
    })
  }
  out$cumul_REML <- quiet({
    cu <- cumul(rma(yi, vi, method = "REML", control = ct))
    list(estimate = as.numeric(cu$estimate), se = as.numeric(cu$se), tau2 = as.numeric(cu$tau2))
  })
  if (k >= 4) {
    g <- rep(c("a", "b"), length.out = k)
    for (m in c("DL", "REML")) for (tt in c("z", "knha")) {
      out[[paste0("subgroups_common_", m, "_", tt)]] <- quiet({
        r <- rma(yi, vi, mods = ~ factor(g), method = m, test = tt, control = ct)
        list(tau2 = r$tau2, QM = r$QM, QMp = r$QMp)
      })
    }
  }
  out
}

sets <- vector("list", n_sets)
for (i in seq_len(n_sets)) {
  d <- make_set(kinds[(i - 1) %% length(kinds) + 1])
  fits <- list()
  for (m in methods) for (tt in c("z", "knha")) fits[[paste(m, tt)]] <- fit(d$yi, d$vi, m, tt)
  sets[[i]] <- c(d, list(fits = fits, extras = extras(d$yi, d$vi)))
}
res <- list(metafor_version = as.character(packageVersion("metafor")),
            r_version = R.version.string, control = ct, seed = 20261202, datasets = sets)
write(toJSON(res, auto_unbox = TRUE, digits = I(15), na = "string"),
      file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE))),
                "differential_metafor.json"))
cat("wrote", n_sets, "datasets\n")
